"""Screenshots of the first start, a real chat and the Models pane, in the light and dark theme.

Every answer shown is the real bundled model's, generated while the script runs; the data
folder is a fresh temporary one. Needs an X display (e.g. `Xvfb :99 &` and DISPLAY=:99).

    DISPLAY=:99 scripts/with-blas.sh .venv/bin/python scripts/look_screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SIZE = (1180, 780)
PROMPT = "Write a Python function that returns the square of a number."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs"), help="folder for the PNG files")
    parser.add_argument("--max-tokens", type=int, default=160)
    args = parser.parse_args()

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    qt = QApplication(sys.argv)
    from app.context import Nocturne
    from ui.icon import app_icon
    from ui.main_window import MainWindow
    from ui.style import apply_style

    qt.setApplicationName("Nocturne")
    qt.setWindowIcon(app_icon())
    apply_style(qt)
    home = Path(tempfile.mkdtemp(prefix="nocturne-look-")) / "home"
    window = MainWindow(Nocturne(home), max_tokens=args.max_tokens, load=False)
    window.resize(*SIZE)
    window.show()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chat, models = window.chat_view, window.models_view

    def until(condition, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                sys.exit("look_screenshots: the window did not get there in time.")
            QTest.qWait(50)  # keeps the event loop (and the answer's stream) running

    def shoot(name: str) -> None:
        QTest.qWait(500)  # let layouts settle and paint
        image = window.screen().grabWindow(window.winId())
        path = out / f"{name}.png"
        image.save(str(path))
        print(f"wrote {path}")

    window.queue.load()
    until(lambda: window.model_label.text() != "Model: loading…")
    shoot("welcome-light")
    chat.send(PROMPT)
    until(lambda: not chat.busy)
    chat.input.setPlainText("Thanks! And the cube?")
    shoot("chat-light")
    window.tabs.setCurrentWidget(models)
    until(lambda: models.model.rowCount() > 0)
    models.table.selectRow(0)
    shoot("models-light")

    # What the OS does when the user switches to dark mode.
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    shoot("models-dark")
    window.tabs.setCurrentWidget(window.chat_view)
    shoot("chat-dark")
    chat.new_chat()
    shoot("welcome-dark")
    window.shutdown()
    shutil.rmtree(home.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
