"""One chat message: Markdown text, and the actions a user can take on it."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout

RENDER_EVERY_MS = 60  # re-render Markdown at most this often while tokens stream in
CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)


class MessageWidget(QFrame):
    """A user or assistant message. Assistant messages can be rated, corrected, remembered.

    Args:
        role: "user" or "assistant".
        text: the Markdown text (may grow while streaming, see `append`).
        message: the logged row (id, rating, correction, status), or None while streaming.
    """

    rate_requested = Signal(int, int)  # message id, 1 / -1 / 0 (none)
    correct_requested = Signal(int)
    remember_requested = Signal(int)

    def __init__(self, role: str, text: str = "", message: dict | None = None, parent=None):
        super().__init__(parent)
        self.role = role
        self.text = text
        self.message_id: int | None = None
        self.setObjectName("userMessage" if role == "user" else "assistantMessage")
        self.setFrameShape(QFrame.StyledPanel)
        self._render_timer = QTimer(self, singleShot=True, interval=RENDER_EVERY_MS)
        self._render_timer.timeout.connect(self._render)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 6)
        layout.setSpacing(4)
        self.header = QLabel("You" if role == "user" else "Nocturne")
        self.header.setObjectName("messageHeader")
        layout.addWidget(self.header)
        self.body = QLabel()
        self.body.setTextFormat(Qt.MarkdownText)
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard
                                          | Qt.LinksAccessibleByMouse)
        self.body.setOpenExternalLinks(False)  # no network, ever: links are only shown
        self.body.setAccessibleName(f"{self.header.text()} said")
        layout.addWidget(self.body)
        self.note = QLabel()
        self.note.setObjectName("messageNote")
        self.note.setWordWrap(True)
        self.note.hide()
        layout.addWidget(self.note)
        layout.addLayout(self._actions())
        self._render()
        if message is not None:
            self.set_logged(message)

    def _button(self, text: str, name: str, tip: str, slot, checkable: bool = False) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setAccessibleName(name)
        button.setToolTip(tip)
        button.setCheckable(checkable)
        button.setAutoRaise(True)
        button.setFocusPolicy(Qt.StrongFocus)
        button.clicked.connect(slot)
        return button

    def _actions(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(2)
        self.copy_button = self._button("Copy", "Copy message", "Copy this message as Markdown",
                                        self.copy)
        self.copy_code_button = self._button("Copy code", "Copy code", "Copy the code blocks",
                                             self.copy_code)
        self.up_button = self._button("✓ Good", "Good answer", "Thumbs up: a good answer",
                                      lambda: self._rate(1), checkable=True)
        self.down_button = self._button("✗ Bad", "Bad answer", "Thumbs down: a bad answer",
                                        lambda: self._rate(-1), checkable=True)
        self.correct_button = self._button("Correct this answer…", "Correct this answer",
                                           "Write the answer it should have given",
                                           lambda: self.correct_requested.emit(self.message_id))
        self.remember_button = self._button("Remember this", "Remember this",
                                            "Save this message as a memory",
                                            lambda: self.remember_requested.emit(self.message_id))
        for button in (self.copy_button, self.copy_code_button):
            row.addWidget(button)
        for button in (self.up_button, self.down_button, self.correct_button):
            if self.role == "assistant":
                row.addWidget(button)
            else:  # ratings and corrections are about answers, not the user's own words
                button.hide()
        row.addWidget(self.remember_button)
        row.addStretch(1)
        self._logged_buttons = [self.remember_button]
        if self.role == "assistant":
            self._logged_buttons += [self.up_button, self.down_button, self.correct_button]
        for button in self._logged_buttons:
            button.setEnabled(False)
        return row

    # -- content ------------------------------------------------------------------------------

    def append(self, piece: str) -> None:
        """Add streamed text; rendering is throttled so a fast stream never stalls the UI."""
        self.text += piece
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _render(self) -> None:
        self.body.setText(self.text if self.text.strip() else "…")
        self.copy_code_button.setVisible(bool(CODE_BLOCK.search(self.text)))

    def set_logged(self, message: dict) -> None:
        """The turn ended: show the final text and status, enable the actions that need an id.

        Args:
            message: {"id", "content"/"text", "status", "error", "rating", "correction"}.
        """
        self._render_timer.stop()
        text = message.get("content", message.get("text"))
        if text is not None:
            self.text = text
        self._render()
        self.message_id = message.get("id")
        logged = self.message_id is not None
        for button in self._logged_buttons:
            button.setEnabled(logged)
            if not logged:
                button.setToolTip("Not saved: this chat is temporary or logging is off.")
        self.up_button.setChecked(message.get("rating") == 1)
        self.down_button.setChecked(message.get("rating") == -1)
        notes = []
        status = message.get("status") or "complete"
        if status == "cancelled":
            notes.append("Stopped.")
        elif status == "error":
            notes.append(f"Could not answer: {message.get('error') or 'unknown error'}")
        if message.get("correction"):
            notes.append(f"Your correction: {message['correction']}")
        self.note.setText("\n".join(notes))
        self.note.setVisible(bool(notes))

    # -- actions ------------------------------------------------------------------------------

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)

    def copy_code(self) -> None:
        blocks = [block.rstrip("\n") for block in CODE_BLOCK.findall(self.text)]
        QGuiApplication.clipboard().setText("\n\n".join(blocks))

    def _rate(self, rating: int) -> None:
        pressed = self.up_button if rating == 1 else self.down_button
        other = self.down_button if rating == 1 else self.up_button
        if pressed.isChecked():
            other.setChecked(False)
        self.rate_requested.emit(self.message_id, rating if pressed.isChecked() else 0)
