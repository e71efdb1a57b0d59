"""The left side of the chat view: search across history, new and temporary chats, the list."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLineEdit, QListView, QPushButton,
                               QVBoxLayout, QWidget)

from app.errors import NocturneError
from ui.dialogs import confirm, show_error
from ui.models.conversation_list import CONVERSATION_ID_ROLE, ConversationListModel
from ui.services import memory_service
from ui.views.word_elide import WordElideDelegate

SEARCH_DELAY_MS = 250  # search after the user pauses typing, not at every key


class ConversationPanel(QWidget):
    """Lists conversations; emits what the user picked. Deleting asks first.

    Args:
        app: the Nocturne instance.
    """

    open_requested = Signal(int)  # conversation id
    new_requested = Signal(bool)  # temporary?
    deleted = Signal(int)
    memories_changed = Signal()
    adapters_tainted = Signal()  # deleted memories were in an adapter: the model must reload

    def __init__(self, app, parent=None):
        super().__init__(parent)
        self.app = app
        self.model = ConversationListModel(app.log, self)
        self.setObjectName("conversationPanel")
        self.setAttribute(Qt.WA_StyledBackground, True)  # so the sidebar colour paints
        self.setMinimumWidth(220)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search all conversations (Ctrl+F)")
        self.search.setAccessibleName("Search all conversations")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(lambda: self.model.refresh(self.search.text()))
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        layout.addWidget(self.search)

        buttons = QHBoxLayout()
        self.new_button = QPushButton("New chat")
        self.new_button.setObjectName("primaryButton")
        self.new_button.setAccessibleName("New chat")
        self.new_button.setToolTip("Start a new chat (Ctrl+N)")
        self.new_button.clicked.connect(lambda: self.new_requested.emit(False))
        self.temporary_button = QPushButton("Temporary")
        self.temporary_button.setAccessibleName("New temporary chat")
        self.temporary_button.setToolTip("A chat that is never saved or learned (Ctrl+Shift+N)")
        self.temporary_button.clicked.connect(lambda: self.new_requested.emit(True))
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.temporary_button)
        layout.addLayout(buttons)

        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setAccessibleName("Conversations")
        self.list.setObjectName("conversationList")
        # Titles end in "…" at the panel's edge, after a whole word, rather than scrolling sideways.
        self.list.setWordWrap(False)
        self.list.setTextElideMode(Qt.ElideRight)
        self.list.setItemDelegate(WordElideDelegate(self.list))
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setUniformItemSizes(True)
        self.list.activated.connect(self._open_index)
        self.list.clicked.connect(self._open_index)
        layout.addWidget(self.list, 1)

        actions = QHBoxLayout()
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setAccessibleName("Rename conversation")
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setAccessibleName("Delete conversation")
        self.delete_button.clicked.connect(self.delete_selected)
        actions.addWidget(self.rename_button)
        actions.addWidget(self.delete_button)
        layout.addLayout(actions)
        self.model.refresh()

    def refresh(self) -> None:
        self.model.refresh()

    def select(self, conversation_id: int | None) -> None:
        """Highlight `conversation_id` in the list (without opening it again)."""
        row = -1 if conversation_id is None else self.model.row_of(conversation_id)
        if row < 0:
            self.list.clearSelection()
            return
        self.list.setCurrentIndex(self.model.index(row))

    def selected_id(self) -> int | None:
        index = self.list.currentIndex()
        return index.data(CONVERSATION_ID_ROLE) if index.isValid() else None

    def _open_index(self, index) -> None:
        if index.isValid():
            self.open_requested.emit(index.data(CONVERSATION_ID_ROLE))

    def rename_selected(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is None:
            return
        current = self.app.log.get(conversation_id)["title"]
        title, ok = QInputDialog.getText(self, "Rename conversation", "Name:", text=current)
        if not ok:
            return
        try:
            self.app.log.rename(conversation_id, title)
        except NocturneError as exc:
            show_error(self, exc)
        self.refresh()
        self.select(conversation_id)

    def delete_selected(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is None:
            return
        title = self.app.log.get(conversation_id)["title"]
        ok, with_memories = confirm(
            self, "Delete conversation",
            f"Delete “{title}” and all its messages for good? This cannot be undone.",
            also="Also delete the memories that came from it")
        if not ok:
            return
        try:
            self.delete(conversation_id, with_memories)
        except NocturneError as exc:
            show_error(self, exc)

    def delete(self, conversation_id: int, with_memories: bool = False) -> None:
        """Delete a conversation for good (and its memories when asked)."""
        outcome = memory_service(self.app).delete_conversation(
            conversation_id, with_memories=with_memories) or {}
        self.refresh()
        if outcome.get("tainted_adapters"):
            self.adapters_tainted.emit()
        self.deleted.emit(conversation_id)
        self.memories_changed.emit()
