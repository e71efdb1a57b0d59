"""The conversation list: recent conversations, or messages matching a search across history."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from app.errors import InputError

CONVERSATION_ID_ROLE = Qt.UserRole + 1
MESSAGE_ID_ROLE = Qt.UserRole + 2


class ConversationListModel(QAbstractListModel):
    """Rows are conversations (title, date) or, while searching, matching messages (snippet).

    Args:
        log: the app's ConversationLog.
    """

    def __init__(self, log, parent=None):
        super().__init__(parent)
        self.log = log
        self.query = ""
        self._rows: list[dict] = []

    def refresh(self, query: str | None = None) -> None:
        """Reload from the store; a non-empty query searches every message instead."""
        if query is not None:
            self.query = query.strip()
        self.beginResetModel()
        if self.query:
            try:
                hits = self.log.search(self.query)
            except InputError:
                hits = []
            self._rows = [{"conversation_id": h["conversation_id"], "message_id": h["id"],
                           "title": h["conversation_title"],
                           "detail": " ".join(h["snippet"].split())} for h in hits]
        else:
            self._rows = [{"conversation_id": c["id"], "message_id": None, "title": c["title"],
                           "detail": f"{c['message_count']} messages · {c['updated_at'][:10]}"}
                          for c in self.log.list()]
        self.endResetModel()

    def row_of(self, conversation_id: int) -> int:
        """The first row showing `conversation_id`, or -1."""
        for number, row in enumerate(self._rows):
            if row["conversation_id"] == conversation_id:
                return number
        return -1

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.DisplayRole:
            return f"{row['title']}\n{row['detail']}"
        if role in (Qt.ToolTipRole, Qt.AccessibleTextRole):
            return f"{row['title']}: {row['detail']}"
        if role == CONVERSATION_ID_ROLE:
            return row["conversation_id"]
        if role == MESSAGE_ID_ROLE:
            return row["message_id"]
        return None
