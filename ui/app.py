"""Start the desktop app: check for a display, open the main window, put an icon in the tray."""

from __future__ import annotations

import os
import sys

NO_DISPLAY = ("there is no display to open the window on (DISPLAY and WAYLAND_DISPLAY are "
              "unset): use `nocturne chat` in a terminal, or start it from your desktop.")


def display_problem() -> str | None:
    """One sentence when no window can be shown here, else None."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None  # the user chose a platform (offscreen, xcb, wayland...): trust it
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return NO_DISPLAY
    return None


def run(argv: list[str] | None = None) -> int:
    """Open Nocturne's main window and run until the user quits.

    Args:
        argv: arguments for Qt (default: sys.argv).
    Returns:
        the process exit code.
    """
    problem = display_problem()
    if problem:
        print(f"nocturne: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.context import Nocturne
    from app.errors import NocturneError
    from ui.icon import app_icon
    from ui.main_window import MainWindow
    from ui.services import nightly_scheduler
    from ui.style import apply_style
    from ui.tray import Tray

    qt = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    qt.setApplicationName("Nocturne")
    qt.setWindowIcon(app_icon())
    apply_style(qt)
    try:
        app = Nocturne()
    except NocturneError as exc:
        print(f"nocturne: {exc}", file=sys.stderr)
        return 1
    scheduler = nightly_scheduler(app)
    if scheduler is not None:
        scheduler.start()
    window = MainWindow(app, scheduler)
    if Tray.available():
        # With a tray, closing the window can keep Nocturne (and its nightly job) running.
        tray = Tray(window)
        tray.open_requested.connect(lambda: (window.show(), window.raise_(),
                                             window.activateWindow()))
        tray.learn_requested.connect(window.learn_now)
        tray.quit_requested.connect(window.quit_app)
        tray.show()
        window.tray = tray
        qt.setQuitOnLastWindowClosed(False)
    qt.aboutToQuit.connect(window.shutdown)
    window.all_data_deleted.connect(lambda: (QMessageBox.information(
        None, "Delete all data", "All your data was deleted. Nocturne closes now."), qt.quit()))
    window.show()
    return qt.exec()
