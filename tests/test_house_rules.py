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


def guarantee_tests(readme: str) -> list[tuple[str, list[str]]]:
    """Each line of README's "What Nocturne guarantees" with the tests it names
    (`test_x.py` or `test_x.py::test_name`)."""
    section = readme.split("## What Nocturne guarantees", 1)[1].split("\n## ", 1)[0]
    items = re.split(r"\n- ", section)[1:]
    return [(item.split("\n", 1)[0], re.findall(r"`(test_\w+\.py(?:::\w+)?)`", item)) for item in items]


def missing_tests(named: list[str], tests_dir: Path) -> list[str]:
    """The named tests that do not exist as a file in `tests_dir`, or as a function in it."""
    missing = []
    for name in named:
        file, _, function = name.partition("::")
        path = tests_dir / file
        if not path.is_file():
            missing.append(name)
        elif function and function not in {
                node.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}:
            missing.append(name)
    return missing


def test_every_guarantee_in_the_readme_names_tests_that_exist():
    items = guarantee_tests((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(items) >= 10
    assert [line for line, named in items if not named] == [], "a guarantee names no test"
    assert missing_tests([name for _, named in items for name in named], REPO / "tests") == []


def test_the_guarantee_check_catches_a_renamed_test(tmp_path):
    (tmp_path / "test_a.py").write_text("def test_kept():\n    pass\n")
    readme = ("## What Nocturne guarantees\n\n- **Kept** (`test_a.py::test_kept`, `test_a.py`).\n"
              "- **Gone** (`test_a.py::test_renamed`, `test_b.py`).\n- **Untested**.\n\n## Next\n- `test_c.py`\n")
    items = guarantee_tests(readme)
    assert [named for _, named in items] == [["test_a.py::test_kept", "test_a.py"],
                                             ["test_a.py::test_renamed", "test_b.py"], []]
    assert missing_tests([n for _, named in items for n in named], tmp_path) == ["test_a.py::test_renamed",
                                                                                "test_b.py"]
