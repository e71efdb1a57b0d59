"""The app's look: Qt's Fusion style with the system palette, plus a few touches for chat."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

STYLESHEET = """
QFrame#userMessage { background: palette(alternate-base); border: 1px solid palette(mid);
                     border-radius: 10px; margin-left: 80px; }
QFrame#assistantMessage { background: palette(base); border: 1px solid palette(midlight);
                          border-radius: 10px; margin-right: 40px; }
QLabel#messageHeader { font-weight: bold; color: palette(dark); }
QLabel#messageNote { color: palette(dark); font-style: italic; }
QLabel#conversationTitle { font-size: 15px; padding: 4px 2px; }
QLabel#banner { background: #fff4ce; color: #4a3b00; border: 1px solid #e8d48a;
                border-radius: 6px; padding: 6px; }
QPushButton#dangerButton { color: #b3261e; }
QListView { font-size: 13px; }
QListView::item { padding: 6px 4px; border-bottom: 1px solid palette(midlight); }
QListView::item:selected { background: palette(highlight); color: palette(highlighted-text); }
"""


def apply_style(qt: QApplication) -> None:
    """Fusion looks the same on every platform; the palette still follows the system."""
    qt.setStyle("Fusion")
    qt.setStyleSheet(STYLESHEET)
