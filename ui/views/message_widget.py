"""One chat message: Markdown text and highlighted code, and the actions a user can take on it.

A user's message is a tinted bubble on the right; an answer is plain text across the column
(as today's chat apps draw them), its code blocks in framed, highlighted boxes.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout

from ui.style import current_theme
from ui.views.code_block import CodeBlock, split_segments

RENDER_EVERY_MS = 60  # re-render Markdown at most this often while tokens stream in
USER_BUBBLE_MAX_WIDTH = 560


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
        self.setObjectName("message")
        self._render_timer = QTimer(self, singleShot=True, interval=RENDER_EVERY_MS)
        self._render_timer.timeout.connect(self._render)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        self.bubble = QFrame()
        self.bubble.setObjectName("userMessage" if role == "user" else "assistantMessage")
        layout = QVBoxLayout(self.bubble)
        if role == "user":
            layout.setContentsMargins(16, 10, 16, 10)
            self.bubble.setMaximumWidth(USER_BUBBLE_MAX_WIDTH)
            row = QHBoxLayout()  # a stretch on the left pushes the bubble to the right
            row.addStretch(1)
            row.addWidget(self.bubble)
            outer.addLayout(row)
        else:
            layout.setContentsMargins(2, 0, 2, 0)
            outer.addWidget(self.bubble)
        layout.setSpacing(6)
        self.header = QLabel("You" if role == "user" else "Nocturne")
        self.header.setObjectName("messageHeader")
        self.header.setVisible(role != "user")  # the bubble itself says who wrote it
        layout.addWidget(self.header)
        self.content = QVBoxLayout()
        self.content.setSpacing(8)
        layout.addLayout(self.content)
        self._segment_widgets: list[QLabel | CodeBlock] = []
        self._shown: list = []  # the segments on screen, to redraw only what changed
        self.note = QLabel()
        self.note.setObjectName("messageNote")
        self.note.setWordWrap(True)
        self.note.hide()
        layout.addWidget(self.note)
        outer.addLayout(self._actions())
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
        if self.role == "user":
            row.addStretch(1)  # under the bubble, on the right
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
        if self.role != "user":
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

    def _text_label(self) -> QLabel:
        label = QLabel()
        label.setTextFormat(Qt.MarkdownText)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard
                                      | Qt.LinksAccessibleByMouse)
        label.setOpenExternalLinks(False)  # no network, ever: links are only shown
        label.setAccessibleName(f"{self.header.text()} said")
        return label

    def _render(self, force: bool = False) -> None:
        """Show the text as prose and code segments, reusing the widgets already there."""
        segments = split_segments(self.text if self.text.strip() else "…")
        theme = current_theme()
        for number, segment in enumerate(segments):
            widget = self._segment_widgets[number] if number < len(self._segment_widgets) else None
            wanted = CodeBlock if segment.kind == "code" else QLabel
            if type(widget) is not wanted:
                if widget is not None:  # a block changed kind: rebuild from here on
                    self._drop_segments(number)
                widget = CodeBlock() if segment.kind == "code" else self._text_label()
                self.content.addWidget(widget)
                self._segment_widgets.append(widget)
                self._shown.append(None)
            if force or self._shown[number] != segment:
                if segment.kind == "code":
                    widget.show_code(segment.text, segment.language, theme)
                else:
                    widget.setText(segment.text)
                    if self.role == "user":
                        self._fit_bubble(widget, segment.text)
                self._shown[number] = segment
        self._drop_segments(len(segments))
        self.copy_code_button.setVisible(any(s.kind == "code" for s in segments))

    @staticmethod
    def _fit_bubble(label: QLabel, text: str) -> None:
        """A short message gets a snug bubble, a long one wraps at the bubble's full width
        (a wrapped label's own size hint would make it a narrow column)."""
        metrics = label.fontMetrics()
        natural = max(metrics.horizontalAdvance(line) for line in text.splitlines() or [""])
        margins = 32  # the bubble's left and right padding
        label.setMinimumWidth(min(natural + 2, USER_BUBBLE_MAX_WIDTH - margins))

    def _drop_segments(self, start: int) -> None:
        for widget in self._segment_widgets[start:]:
            self.content.removeWidget(widget)
            widget.deleteLater()
        del self._segment_widgets[start:], self._shown[start:]

    def code_blocks(self) -> list[CodeBlock]:
        return [w for w in self._segment_widgets if isinstance(w, CodeBlock)]

    def changeEvent(self, event) -> None:
        # The colour scheme flipped: highlighted code has its colours baked in, so redraw it.
        if event.type() == QEvent.PaletteChange and self.code_blocks():
            self._render(force=True)
        super().changeEvent(event)

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
        blocks = [s.text for s in split_segments(self.text) if s.kind == "code"]
        QGuiApplication.clipboard().setText("\n\n".join(blocks))

    def _rate(self, rating: int) -> None:
        pressed = self.up_button if rating == 1 else self.down_button
        other = self.down_button if rating == 1 else self.up_button
        if pressed.isChecked():
            other.setChecked(False)
        self.rate_requested.emit(self.message_id, rating if pressed.isChecked() else 0)
