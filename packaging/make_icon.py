"""Draw the app icon (ui/icon.py) into a PNG for the bundle's desktop entry and executable."""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSize  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402

from ui.icon import app_icon  # noqa: E402


def main(out: Path) -> None:
    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - Qt needs it alive to draw
    out.parent.mkdir(parents=True, exist_ok=True)
    if not app_icon().pixmap(QSize(256, 256)).save(str(out)):
        sys.exit(f"could not write {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
