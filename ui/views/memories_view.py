"""The memories view: review what Nocturne learned about you; approve, edit, add, delete.

An import brings hundreds of proposals, so rows can be selected many at a time, the list can be
narrowed by source, kind and conversation, and "Approve/Reject all shown" act on exactly the
rows the filters show. Each bulk action is one transaction in app.memory_review, and with its
redraw stays under 50 ms for 1,300 rows (bench/memory_scale.py), so it runs on the UI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox,
                               QFormLayout, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QStackedWidget,
                               QTableView, QVBoxLayout, QWidget)

from app.errors import NocturneError
from app.memory_forget import MENTION_REASONS
from app.memory_review import SOURCE_LABELS, MemoryFilter
from ui.dialogs import confirm, show_error
from ui.models.memory_table import COLUMNS, CONVERSATION_ID_ROLE, MemoryTableModel
from ui.services import memory_conversations, memory_service

STATUSES = [("All", None), ("Pending review", "pending"), ("Approved", "approved"),
            ("Rejected", "rejected")]
KINDS = ["fact", "preference", "style", "correction"]
# The source filter's order: what people look for first after an import.
SOURCES = [("All sources", None)] + [(SOURCE_LABELS[key], key) for key in
                                     ("imported", "chatgpt", "claude", "open-webui", "nocturne", "chat", "hand")]
MAX_TITLE_CHARS = 40  # a conversation's title in the filter; the full title is its tooltip


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
        self.source_filter = self._combo("Show memories from source", SOURCES)
        self.kind_filter = self._combo("Show memories of kind", [("All kinds", None)] + [(k, k) for k in KINDS])
        self.conversation_filter = self._combo("Show memories from conversation", [("All conversations", None)])
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search memories")
        self.search.setAccessibleName("Search memories")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(self._filter)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        filters.addWidget(QLabel("Show:"))
        for combo in (self.status_filter, self.source_filter, self.kind_filter, self.conversation_filter):
            filters.addWidget(combo)
        filters.addWidget(self.search, 1)
        layout.addLayout(filters)

        self.stack = QStackedWidget()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Memories")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)  # shift/ctrl: many rows
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        self.table.doubleClicked.connect(self._double_clicked)
        # Sizes come from the rows in view only: measuring hundreds of wrapped rows blocked the
        # UI thread for a quarter of a second after every action on an import's proposals.
        header.setResizeContentsPrecision(0)
        self.table.verticalHeader().setResizeContentsPrecision(0)
        self._conversations: list[dict] | None = None  # what the conversation filter lists
        self._fitted: set[int] = set()  # rows whose height fits their wrapped text
        self.table.verticalScrollBar().valueChanged.connect(lambda _: self._fit_visible_rows())
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
        self.approve_shown_button = self._button("Approve all shown…", "Approve all memories shown",
                                                 lambda: self.review_shown("approved"))
        self.reject_shown_button = self._button("Reject all shown…", "Reject all memories shown",
                                                lambda: self.review_shown("rejected"))
        for button in (self.add_button, self.edit_button, self.approve_button,
                       self.reject_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.approve_shown_button)
        buttons.addWidget(self.reject_shown_button)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)
        self.refresh()

    def _combo(self, name: str, items: list[tuple[str, object]]) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(name)
        for label, value in items:
            combo.addItem(label, value)
        combo.currentIndexChanged.connect(self._filter)
        return combo

    def _button(self, text: str, name: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    # -- list ---------------------------------------------------------------------------------

    def refresh(self, conversations: bool = True) -> None:
        """Reload the rows (and the conversation filter's list, unless only a filter changed)."""
        kept = {memory["id"] for memory in self.selected_memories()}
        if conversations:
            self._fill_conversations()
        self.model.refresh()
        self._fitted.clear()
        self._fit_visible_rows()
        if self.model.rowCount():
            self.stack.setCurrentWidget(self.table)
            self._select_ids(kept)
        else:
            filtered = self.model.filter.is_narrowed()
            self.empty.setText(
                "No memories match this filter." if filtered else
                "No memories yet.\n\nSay “remember that …” in a chat, press “Remember this” "
                "on a message, or add one here. A memory is used in your chats at once, and "
                "learned into the model itself at night.")
            self.stack.setCurrentWidget(self.empty)
        self._update_buttons()

    def _fit_visible_rows(self) -> None:
        """Fit the rows in view to their wrapped text, the others as they scroll in: fitting
        every row of an import's hundreds of proposals took a quarter of a second."""
        bottom = self.table.viewport().height()
        row = max(0, self.table.rowAt(0))
        while row < self.model.rowCount() and self.table.rowViewportPosition(row) < bottom:
            if row not in self._fitted:
                self.table.resizeRowToContents(row)
                self._fitted.add(row)
            row += 1

    def showEvent(self, event) -> None:  # the viewport has its real height only once shown
        super().showEvent(event)
        self._fit_visible_rows()

    def _fill_conversations(self) -> None:
        """The conversation filter lists the conversations memories came from (they change)."""
        combo = self.conversation_filter
        chosen = combo.currentData()
        rows = memory_conversations(self.app)
        if rows == self._conversations:  # rebuilding a thousand items costs tens of ms
            return
        self._conversations = rows
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("All conversations", None)
        for row in rows:
            title = row["title"] or f"Conversation {row['id']}"
            short = title if len(title) <= MAX_TITLE_CHARS else title[:MAX_TITLE_CHARS - 1] + "…"
            combo.addItem(f"{short} ({row['memories']})", row["id"])
            combo.setItemData(combo.count() - 1, title, Qt.ToolTipRole)
        combo.setCurrentIndex(max(0, combo.findData(chosen)) if chosen is not None else 0)
        combo.blockSignals(False)
        if combo.currentData() != chosen:  # its conversation went: show all again
            self.model.filter = self._chosen_filter()

    def _chosen_filter(self) -> MemoryFilter:
        return MemoryFilter(status=self.status_filter.currentData(),
                            source=self.source_filter.currentData(),
                            kind=self.kind_filter.currentData(),
                            conversation_id=self.conversation_filter.currentData(),
                            query=self.search.text().strip() or None)

    def _filter(self) -> None:
        self.model.filter = self._chosen_filter()
        self.refresh(conversations=False)

    def selected_memories(self) -> list[dict]:
        """The selected rows' memories, in table order."""
        model = self.table.selectionModel()
        rows = sorted(index.row() for index in model.selectedRows()) if model else []
        return [self.model.memory(row) for row in rows if row < self.model.rowCount()]

    def selected(self) -> dict | None:
        """The selected memory when exactly one is selected (edit, delete, open act on one)."""
        memories = self.selected_memories()
        return memories[0] if len(memories) == 1 else None

    def _select_ids(self, memory_ids: set[int]) -> None:
        selection = QItemSelection()
        for row in range(self.model.rowCount()):
            if self.model.memory(row)["id"] in memory_ids:
                selection.select(self.model.index(row, 0), self.model.index(row, len(COLUMNS) - 1))
        self.table.selectionModel().select(selection, QItemSelectionModel.ClearAndSelect)

    def select_memory(self, memory_id: int) -> bool:
        """Select the row of `memory_id`; False when it is not shown."""
        for row in range(self.model.rowCount()):
            if self.model.memory(row)["id"] == memory_id:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        memory = self.selected()
        chosen = self.selected_memories()
        for button in (self.edit_button, self.delete_button):
            button.setEnabled(memory is not None)
        count = f" {len(chosen)}" if len(chosen) > 1 else ""
        self.approve_button.setText("Approve" + count)
        self.reject_button.setText("Reject" + count)
        self.approve_button.setEnabled(any(m["status"] != "approved" for m in chosen))
        self.reject_button.setEnabled(any(m["status"] != "rejected" for m in chosen))
        self.open_button.setEnabled(bool(memory and memory.get("source_conversation_id")))
        shown = self.model.memories()
        self.approve_shown_button.setEnabled(any(m["status"] != "approved" for m in shown))
        self.reject_shown_button.setEnabled(any(m["status"] != "rejected" for m in shown))

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
        """Approve every selected memory (one transaction)."""
        self.review([m["id"] for m in self.selected_memories()], "approved")

    def reject(self) -> None:
        """Reject every selected memory (one transaction); adapters that learned one are discarded."""
        self.review([m["id"] for m in self.selected_memories()], "rejected")

    def review_shown(self, status: str) -> None:
        """Approve or reject exactly the rows shown, once the user confirms how many."""
        shown = self.model.memories()
        if not shown:
            return
        verb = "Approve" if status == "approved" else "Reject"
        count = f"{len(shown)} {'memory' if len(shown) == 1 else 'memories'}"
        consequence = ("They are used in your chats at once and learned tonight."
                       if status == "approved" else
                       "They are never used, learned or proposed again; adapters that learned "
                       "one of them are discarded.")
        ok, _ = confirm(self, f"{verb} memories", f"{verb} the {count} shown? {consequence}",
                        destructive=f"{verb} {count}")
        if ok:
            self.review([m["id"] for m in shown], status)

    def review(self, memory_ids: list[int], status: str) -> bool:
        """Give these memories `status` without asking; adapters tainted by it are reloaded."""
        if not memory_ids:
            return False
        outcome = []
        done = self._run(lambda: outcome.append(memory_service(self.app).review(memory_ids, status)))
        if outcome and outcome[0].tainted_adapters:
            self.adapters_tainted.emit()
        return done

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
        text = (f"Delete “{memory['text']}” for good? Adapters that learned it are discarded, and "
                "the next learning run learns without it.")
        also = None
        if concerned:
            one = len(concerned) == 1
            text += (f"\n\n{'This conversation mentions' if one else 'These conversations mention'} it and "
                     f"{'is' if one else 'are'} kept unless you tick the box:\n") + "\n".join(
                f"• {c['title']} ({MENTION_REASONS[c['why']]})" for c in concerned)
            also = "Also delete this conversation" if one else f"Also delete these {len(concerned)} conversations"
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
