"""The system tray icon: Open, Learn now, Quit, so Nocturne can keep running in the background."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from ui.icon import app_icon


class Tray(QSystemTrayIcon):
    """Emits what the user picked; the main window decides what it means."""

    open_requested = Signal()
    learn_requested = Signal()
    quit_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(app_icon(), parent)
        self.setToolTip("Nocturne")
        self.menu = QMenu()
        for text, signal in (("Open Nocturne", self.open_requested),
                             ("Learn now", self.learn_requested),
                             ("Quit Nocturne", self.quit_requested)):
            action = QAction(text, self.menu)
            action.triggered.connect(signal)
            self.menu.addAction(action)
        self.setContextMenu(self.menu)
        self.activated.connect(self._activated)

    def _activated(self, reason) -> None:
        if reason in (QSystemTrayIcon.Trigger, QSystemTrayIcon.DoubleClick):
            self.open_requested.emit()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()
