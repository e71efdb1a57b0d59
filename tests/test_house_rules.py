"""Rules of the house that keep the layers honest."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO

CORE_PACKAGES = ["app", "ondevice", "scheduler"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_pyside6_outside_ui():
    offenders = []
    for package in CORE_PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if any(name.split(".")[0] == "PySide6" for name in imported_modules(path)):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == [], f"PySide6 imported outside ui/: {offenders}"


def test_the_rule_itself_catches_an_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from PySide6.QtCore import QObject\n")
    assert "PySide6.QtCore" in imported_modules(sample)


def test_readme_documents_every_command_and_setting():
    from app.cli.main import build_parser
    from app.settings import SETTINGS

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    missing = [f"nocturne {name}" for name in commands if f"nocturne {name}" not in readme]
    missing += [key for key in SETTINGS if f"`{key}`" not in readme]
    assert missing == [], f"README does not mention: {missing}"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^\s*make test\b", readme, re.M), "README's test command is `make test`"
    assert re.search(r"^\s*make test\b", ci, re.M)
