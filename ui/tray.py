"""The system tray icon: Open, Learn now, Quit, so Nocturne can keep running in the background."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from ui.icon import tray_icon
from ui.style import current_theme


class Tray(QSystemTrayIcon):
    """Emits what the user picked; the main window decides what it means."""

    open_requested = Signal()
    learn_requested = Signal()
    quit_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(tray_icon(current_theme().dark), parent)
        # The panel follows the OS scheme, so the crescent's ink does too.
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)
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

    def _scheme_changed(self, scheme) -> None:
        self.setIcon(tray_icon(scheme == Qt.ColorScheme.Dark))

    def _activated(self, reason) -> None:
        if reason in (QSystemTrayIcon.Trigger, QSystemTrayIcon.DoubleClick):
            self.open_requested.emit()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()
