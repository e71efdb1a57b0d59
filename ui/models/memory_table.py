"""The memories table: a Qt table model over the store (through the memory service)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from app.chat_exports import FORMAT_NAMES
from app.memory_review import MemoryFilter
from ui.services import list_memories

COLUMNS = ["Memory", "Kind", "Status", "Source", "Learned"]
MEMORY_ID_ROLE = Qt.UserRole + 1
CONVERSATION_ID_ROLE = Qt.UserRole + 2
# Roles as plain ints: comparing PySide6 enums costs microseconds, and a table of a few hundred
# imported proposals asks data() tens of thousands of times per refresh (it took a second).
_TEXT_ROLES = frozenset({int(Qt.DisplayRole), int(Qt.AccessibleTextRole)})
_TOOLTIP, _FOREGROUND = int(Qt.ToolTipRole), int(Qt.ForegroundRole)
_MEMORY_ID, _CONVERSATION_ID = int(MEMORY_ID_ROLE), int(CONVERSATION_ID_ROLE)
_ANSWERED = _TEXT_ROLES | {_TOOLTIP, _FOREGROUND, _MEMORY_ID, _CONVERSATION_ID}


class MemoryTableModel(QAbstractTableModel):
    """One row per memory: text, kind, status, source conversation, learned by the adapter.

    Args:
        app: the Nocturne instance.
    """

    def __init__(self, app, parent=None):
        super().__init__(parent)
        self.app = app
        self.filter = MemoryFilter()
        self._rows: list[dict] = []

    def refresh(self) -> None:
        """Reload with the current filter (status, source, kind, conversation, words)."""
        self.beginResetModel()
        self._rows = list_memories(self.app, self.filter)
        self.endResetModel()

    def memory(self, row: int) -> dict:
        return self._rows[row]

    def memories(self) -> list[dict]:
        """Every row shown, in order (what "all shown" acts on)."""
        return list(self._rows)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        role = int(role)
        if role not in _ANSWERED or not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = COLUMNS[index.column()]
        if role in _TEXT_ROLES:
            return self._text(row, column)
        if role == _TOOLTIP:
            if column == "Source" and row.get("source_conversation_id"):
                return "Double-click to open the conversation this memory came from."
            if column == "Status" and row.get("superseded"):
                return row["superseded"].capitalize() + "."
            return row["text"] if column == "Memory" else None
        if role == _MEMORY_ID:
            return row["id"]
        if role == _CONVERSATION_ID:
            return row.get("source_conversation_id")
        if role == _FOREGROUND and column == "Source" and row.get("source_conversation_id"):
            from PySide6.QtGui import QPalette
            from PySide6.QtWidgets import QApplication

            return QApplication.palette().color(QPalette.Link)
        return None

    @staticmethod
    def _text(row: dict, column: str) -> str:
        if column == "Memory":
            return row["text"]
        if column == "Kind":
            return row.get("kind") or ""
        if column == "Status":  # a memory a newer one contradicts waits for the user's review
            return "superseded: review" if row.get("superseded") else row.get("status") or ""
        if column == "Source":
            source = row.get("source_conversation_id")
            if not source:
                return "Added by you"
            imported = row.get("conversation_source")
            return f"Conversation {source} ({FORMAT_NAMES[imported]})" if imported else f"Conversation {source}"
        return "Yes" if row.get("learned") else "Not yet"
