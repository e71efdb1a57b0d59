"""The memories view: review what Nocturne learned about you; approve, edit, add, delete."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox,
                               QFormLayout, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QStackedWidget,
                               QTableView, QVBoxLayout, QWidget)

from app.errors import NocturneError
from app.memory_forget import MENTION_REASONS
from ui.dialogs import confirm, show_error
from ui.models.memory_table import COLUMNS, CONVERSATION_ID_ROLE, MemoryTableModel
from ui.services import memory_service

STATUSES = [("All", None), ("Pending review", "pending"), ("Approved", "approved"),
            ("Rejected", "rejected")]
KINDS = ["fact", "preference", "style", "correction"]


class MemoriesView(QWidget):
    """A table of memories with the actions a reviewer needs.

    Args:
        app: the Nocturne instance.
    """

    open_conversation = Signal(int)
    changed = Signal()
    adapters_tainted = Signal()  # a deleted memory was in an adapter: the model must reload

    def __init__(self, app, parent=None):
        super().__init__(parent)
        self.app = app
        self.model = MemoryTableModel(app, self)
        layout = QVBoxLayout(self)

        filters = QHBoxLayout()
        self.status_filter = QComboBox()
        self.status_filter.setAccessibleName("Show memories with status")
        for label, value in STATUSES:
            self.status_filter.addItem(label, value)
        self.status_filter.currentIndexChanged.connect(self._filter)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search memories")
        self.search.setAccessibleName("Search memories")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(self._filter)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        filters.addWidget(QLabel("Show:"))
        filters.addWidget(self.status_filter)
        filters.addWidget(self.search, 1)
        layout.addLayout(filters)

        self.stack = QStackedWidget()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Memories")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        self.table.doubleClicked.connect(self._double_clicked)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.empty = QLabel()
        self.empty.setObjectName("emptyHint")
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        layout.addWidget(self.stack, 1)

        buttons = QHBoxLayout()
        self.add_button = self._button("Add…", "Add a memory", self.add)
        self.edit_button = self._button("Edit…", "Edit memory", self.edit)
        self.approve_button = self._button("Approve", "Approve memory", self.approve)
        self.reject_button = self._button("Reject", "Reject memory", self.reject)
        self.open_button = self._button("Open source", "Open source conversation",
                                        self.open_source)
        self.delete_button = self._button("Delete…", "Delete memory", self.delete)
        for button in (self.add_button, self.edit_button, self.approve_button,
                       self.reject_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)
        self.refresh()

    def _button(self, text: str, name: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    # -- list ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        selected = self.selected()
        self.model.refresh()
        self.table.resizeRowsToContents()
        if self.model.rowCount():
            self.stack.setCurrentWidget(self.table)
            row = next((r for r in range(self.model.rowCount())
                        if selected and self.model.memory(r)["id"] == selected["id"]), None)
            if row is not None:
                self.table.selectRow(row)
        else:
            filtered = self.model.status or self.model.query
            self.empty.setText(
                "No memories match this filter." if filtered else
                "No memories yet.\n\nSay “remember that …” in a chat, press “Remember this” "
                "on a message, or add one here. A memory is used in your chats at once, and "
                "learned into the model itself at night.")
            self.stack.setCurrentWidget(self.empty)
        self._update_buttons()

    def _filter(self) -> None:
        self.model.status = self.status_filter.currentData()
        self.model.query = self.search.text().strip()
        self.refresh()

    def selected(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.model.memory(rows[0].row()) if rows else None

    def select_memory(self, memory_id: int) -> bool:
        """Select the row of `memory_id`; False when it is not shown."""
        for row in range(self.model.rowCount()):
            if self.model.memory(row)["id"] == memory_id:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        memory = self.selected()
        for button in (self.edit_button, self.delete_button):
            button.setEnabled(memory is not None)
        self.approve_button.setEnabled(bool(memory) and memory["status"] != "approved")
        self.reject_button.setEnabled(bool(memory) and memory["status"] != "rejected")
        self.open_button.setEnabled(bool(memory and memory.get("source_conversation_id")))

    def _double_clicked(self, index) -> None:
        if COLUMNS[index.column()] == "Source" and index.data(CONVERSATION_ID_ROLE):
            self.open_conversation.emit(index.data(CONVERSATION_ID_ROLE))
        else:
            self.edit()

    # -- actions ------------------------------------------------------------------------------

    def _run(self, action, *args) -> bool:
        try:
            action(*args)
        except NocturneError as exc:
            show_error(self, exc)
            return False
        self.refresh()
        self.changed.emit()
        return True

    def open_source(self) -> None:
        memory = self.selected()
        if memory and memory.get("source_conversation_id"):
            self.open_conversation.emit(memory["source_conversation_id"])

    def approve(self) -> None:
        if memory := self.selected():
            self._run(memory_service(self.app).approve, memory["id"])

    def reject(self) -> None:
        if memory := self.selected():
            self._run(memory_service(self.app).reject, memory["id"])

    def edit(self) -> None:
        memory = self.selected()
        if memory is None:
            return
        text, ok = QInputDialog.getMultiLineText(self, "Edit memory", "Memory:", memory["text"])
        if ok:
            self._run(memory_service(self.app).edit, memory["id"], text)

    def add(self) -> None:
        dialog = AddMemoryDialog(self)
        if dialog.exec() == QDialog.Accepted:
            self._run(lambda: memory_service(self.app).add(dialog.text(), kind=dialog.kind()))

    def delete(self) -> None:
        memory = self.selected()
        if memory is None:
            return
        try:
            concerned = memory_service(self.app).conversations_mentioning(memory["id"])
        except NocturneError as exc:
            show_error(self, exc)
            return
        text = (f"Delete “{memory['text']}” for good? Adapters that learned it are retired and "
                "Nocturne relearns without it tonight.")
        also = None
        if concerned:
            text += "\n\nThese conversations mention it and are kept unless you tick the box:\n" + "\n".join(
                f"• {c['title']} ({MENTION_REASONS[c['why']]})" for c in concerned)
            also = f"Also delete these {len(concerned)} conversations"
        ok, with_conversations = confirm(self, "Delete memory", text, also=also)
        if ok:
            self.delete_memory(memory["id"], [c["id"] for c in concerned] if with_conversations else [])

    def delete_memory(self, memory_id: int, conversation_ids: list[int] = ()) -> bool:
        """Delete without asking (the confirmation is `delete`'s job), and the listed conversations."""
        outcome: dict = {}

        def delete() -> None:
            outcome.update(memory_service(self.app).delete(memory_id, also_conversations=conversation_ids) or {})
        done = self._run(delete)
        if outcome.get("tainted_adapters"):
            self.adapters_tainted.emit()
        return done


class AddMemoryDialog(QDialog):
    """Ask for a new memory's text and kind."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Add a memory")
        form = QFormLayout(self)
        self.editor = QPlainTextEdit()
        self.editor.setAccessibleName("Memory text")
        self.editor.setPlaceholderText("e.g. I prefer short answers.")
        self.kinds = QComboBox()
        self.kinds.setAccessibleName("Kind of memory")
        self.kinds.addItems(KINDS)
        form.addRow("Memory:", self.editor)
        form.addRow("Kind:", self.kinds)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def text(self) -> str:
        return self.editor.toPlainText()

    def kind(self) -> str:
        return self.kinds.currentText()
