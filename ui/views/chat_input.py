"""The message box: Enter sends, Shift+Enter starts a new line."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QPlainTextEdit


class ChatInput(QPlainTextEdit):
    """A multi-line text box that emits `submitted` on Enter (Shift+Enter is a newline)."""

    submitted = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setPlaceholderText("Message Nocturne (Enter sends, Shift+Enter for a new line)")
        self.setAccessibleName("Message")
        self.setAccessibleDescription("Type a message; Enter sends it, Shift+Enter adds a line.")
        self.setTabChangesFocus(True)  # keyboard users can Tab out to the buttons
        self.setObjectName("chatInput")
        self.setMaximumHeight(96)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter):
            if event.modifiers() & Qt.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            return
        super().keyPressEvent(event)
