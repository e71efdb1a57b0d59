"""The chat view: conversations on the left, the messages and the message box on the right.

Answers stream from the model's worker queue; this view only draws what arrives and calls
app/ services for ratings, corrections and memories.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLabel, QPushButton, QScrollArea,
                               QSplitter, QVBoxLayout, QWidget)

from app.conversations import Conversation
from app.errors import NocturneError
from app.text_input import clean_user_text
from ui.dialogs import show_error
from ui.services import memory_service
from ui.views.chat_input import ChatInput
from ui.views.conversation_panel import ConversationPanel
from ui.views.message_widget import MessageWidget
from ui.views.welcome import WelcomePane
from ui.workers import ModelQueue

COLUMN_WIDTH = 820  # messages and the box keep a readable line length on wide windows


class ChatView(QWidget):
    """Chat with the model. Emits `answer_finished` (plain dict) when a turn ends.

    Args:
        app: the Nocturne instance.
        queue: the model's worker queue.
    """

    answer_finished = Signal(dict)
    memories_changed = Signal()
    status_message = Signal(str)

    def __init__(self, app, queue: ModelQueue, parent=None):
        super().__init__(parent)
        self.app = app
        self.queue = queue
        self.conversation = Conversation()
        self.job_id: int | None = None
        self._answer: MessageWidget | None = None
        self._question: MessageWidget | None = None
        self._last_text: str | None = None
        self.queue.worker.piece.connect(self._on_piece)
        self.queue.worker.reply_finished.connect(self._on_finished)

        splitter = QSplitter(Qt.Horizontal, self)
        splitter.setHandleWidth(1)
        self.panel = ConversationPanel(app)
        self.panel.open_requested.connect(self.open_conversation)
        self.panel.new_requested.connect(self.new_chat)
        self.panel.deleted.connect(self._on_deleted)
        self.panel.memories_changed.connect(self.memories_changed)
        splitter.addWidget(self.panel)
        splitter.addWidget(self._conversation_side())
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 700])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.new_chat(False)

    @staticmethod
    def _centred(layout) -> QWidget:
        """`layout` in a column of at most COLUMN_WIDTH, centred."""
        column = QWidget()
        column.setLayout(layout)
        column.setMaximumWidth(COLUMN_WIDTH)
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(20, 0, 20, 0)
        row.addStretch(0)
        row.addWidget(column, 1)
        row.addStretch(0)
        return holder

    def _conversation_side(self) -> QWidget:
        side = QWidget()
        side.setObjectName("chatSide")
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 4, 0, 10)
        layout.setSpacing(6)
        head = QVBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel()
        self.title.setObjectName("conversationTitle")
        head.addWidget(self.title)
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        head.addWidget(self.banner)
        layout.addWidget(self._centred(head))

        self.scroll = QScrollArea()
        self.scroll.setObjectName("messageScroll")
        self.scroll.setFrameShape(QScrollArea.NoFrame)
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # text wraps instead
        self.scroll.setAccessibleName("Messages")
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 12)
        column.setSpacing(0)
        self.welcome = WelcomePane()
        self.welcome.prompt_chosen.connect(self.send)
        column.addWidget(self.welcome)
        self.messages_layout = QVBoxLayout()
        self.messages_layout.setSpacing(18)
        column.addLayout(self.messages_layout)
        column.addStretch(1)
        self.messages = self._centred(column)
        self.messages.setObjectName("messages")
        self.scroll.setWidget(self.messages)
        # Follow the stream: when the content grows, stay at the bottom.
        bar = self.scroll.verticalScrollBar()
        bar.rangeChanged.connect(lambda _low, high: bar.setValue(high))
        layout.addWidget(self.scroll, 1)

        self.input = ChatInput()
        self.input.submitted.connect(self.send)
        bottom = QVBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.input)
        buttons = QHBoxLayout()
        self.regenerate_button = self._button("Regenerate", "Regenerate the last answer",
                                              "Answer the last message again (Ctrl+R)",
                                              self.regenerate)
        self.stop_button = self._button("Stop", "Stop answering", "Stop the answer (Esc)",
                                        self.stop)
        self.send_button = self._button("Send", "Send message", "Send (Enter)", self.send)
        self.send_button.setDefault(True)
        buttons.addWidget(self.regenerate_button)
        buttons.addStretch(1)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.send_button)
        bottom.addLayout(buttons)
        layout.addWidget(self._centred(bottom))
        return side

    @staticmethod
    def _button(text: str, name: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- conversations ------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.job_id is not None

    def new_chat(self, temporary: bool = False) -> None:
        """Start an empty chat; a temporary one is never saved or learned."""
        self.stop()
        self.conversation = Conversation(temporary=temporary)
        self._last_text = None
        self._clear_messages()
        self.panel.select(None)
        self._update_title()
        self.input.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        """Show a logged conversation and continue it."""
        if self.conversation.id == conversation_id and not self.conversation.temporary:
            return
        self.stop()
        try:
            self.conversation = self.app.log.load(conversation_id)
            rows = self.app.log.messages(conversation_id)
        except NocturneError as exc:
            show_error(self, exc)
            return
        self._clear_messages()
        for row in rows:
            self._add_message(row["role"], row["content"], row)
        users = [row["content"] for row in rows if row["role"] == "user"]
        self._last_text = users[-1] if users else None
        self._update_title()
        self.panel.select(conversation_id)

    def _on_deleted(self, conversation_id: int) -> None:
        if self.conversation.id == conversation_id:
            self.new_chat(False)

    def _update_title(self) -> None:
        if self.conversation.temporary:
            self.title.setText("<b>Temporary chat</b>: not saved, never learned")
        elif self.conversation.id is None:
            self.title.setText("<b>New chat</b>")
        else:
            self.title.setText(f"<b>{self.app.log.get(self.conversation.id)['title']}</b>")
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.stop_button.setEnabled(self.busy)
        self.regenerate_button.setEnabled(not self.busy and self._last_text is not None)

    def show_notice(self, text: str | None) -> None:
        """A one-sentence notice above the messages (model could not load, adapter skipped)."""
        self.banner.setText(text or "")
        self.banner.setVisible(bool(text))

    # -- messages -----------------------------------------------------------------------------

    def _clear_messages(self) -> None:
        while self.messages_layout.count():
            item = self.messages_layout.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self._answer = self._question = None
        self.welcome.show()  # an empty chat teaches what to do

    def message_widgets(self) -> list[MessageWidget]:
        layout = self.messages_layout
        return [layout.itemAt(i).widget() for i in range(layout.count())]

    def _add_message(self, role: str, text: str, row: dict | None = None) -> MessageWidget:
        widget = MessageWidget(role, text, row)
        widget.rate_requested.connect(self._rate)
        widget.correct_requested.connect(self._correct)
        widget.remember_requested.connect(self._remember)
        self.welcome.hide()
        self.messages_layout.addWidget(widget)
        return widget

    def send(self, text: str | None = None, vary: bool = False) -> int | None:
        """Send the message box's text (or `text`); returns the job id, None if nothing sent."""
        if self.busy:
            return None
        text = self.input.toPlainText() if text is None else text
        try:
            text = clean_user_text(text, "message")
        except NocturneError:
            return None  # an empty box: nothing to send, nothing to say
        if not vary:
            self.input.clear()
        self._last_text = text
        self._question = self._add_message("user", text)
        self._answer = self._add_message("assistant", "")
        self.job_id = self.queue.ask(self.conversation, text, vary=vary)
        self._update_buttons()
        return self.job_id

    def regenerate(self) -> int | None:
        """Ask the last message again with sampling, for a different answer."""
        if self.busy or self._last_text is None:
            return None
        return self.send(self._last_text, vary=True)

    def stop(self) -> None:
        if self.job_id is not None:
            self.queue.cancel(self.job_id)

    def _on_piece(self, job_id: int, piece: str) -> None:
        if job_id == self.job_id and self._answer is not None:
            self._answer.append(piece)

    def _on_finished(self, job_id: int, result: dict) -> None:
        if job_id != self.job_id:
            return
        self.job_id = None
        if self._answer is not None:
            self._answer.set_logged({"id": result["message_id"], "text": result["text"],
                                     "status": result["status"], "error": result["error"]})
        if self._question is not None and result["user_message_id"] is not None:
            self._question.set_logged({"id": result["user_message_id"]})
        self.panel.refresh()
        if self.conversation.id is not None and not self.conversation.temporary:
            self.panel.select(self.conversation.id)
        self._update_title()
        self.answer_finished.emit(result)

    # -- actions on a message -----------------------------------------------------------------

    def _rate(self, message_id: int, rating: int) -> None:
        try:
            self.app.log.rate(message_id, rating or None)
        except NocturneError as exc:
            show_error(self, exc)

    def _correct(self, message_id: int) -> None:
        widget = next((w for w in self.message_widgets() if w.message_id == message_id), None)
        current = widget.text if widget else ""
        text, ok = QInputDialog.getMultiLineText(
            self, "Correct this answer", "The answer it should have given:", current)
        if not ok:
            return
        try:
            self.app.log.correct(message_id, text.strip())
        except NocturneError as exc:
            show_error(self, exc)
            return
        if widget is not None:
            row = self.app.store.query_one("SELECT * FROM messages WHERE id = ?", (message_id,))
            widget.set_logged(row)
        self.status_message.emit("Correction saved: it will be learned tonight.")

    def _remember(self, message_id: int) -> None:
        try:
            memory_service(self.app).remember_message(message_id)
        except NocturneError as exc:
            show_error(self, exc)
            return
        self.status_message.emit("Remembered: see it in Memories.")
        self.memories_changed.emit()
