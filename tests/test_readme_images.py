"""Every picture the README shows is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_every_image_the_readme_references_exists():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme)
    assert images  # the window's pictures
    assert [path for path in images if not (REPO / path).is_file()] == []
