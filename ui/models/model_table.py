"""The Models pane's table: one row per GGUF found, with what its header says."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QFont

from ondevice.gguf_info import chat_reason, human_parameters, human_size
from ondevice.model_catalog import FoundModel

COLUMNS = ("Name", "From", "Architecture", "Parameters", "Quantization", "Size", "Chat", "Learn")
PATH_ROLE = Qt.UserRole + 1


class ModelTableModel(QAbstractTableModel):
    """Rows are FoundModel; the one in use is bold and says so."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.models: list[FoundModel] = []
        self.in_use: Path | None = None

    def set_models(self, models: list[FoundModel], in_use: Path | None) -> None:
        self.beginResetModel()
        self.models = list(models)
        self.in_use = in_use
        self.endResetModel()

    def set_in_use(self, in_use: Path | None) -> None:
        self.in_use = in_use
        if self.models:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.models) - 1, 0))

    def row_of(self, path: Path) -> int:
        for number, found in enumerate(self.models):
            if found.info.path.resolve() == Path(path).resolve():
                return number
        return -1

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.models)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        return None

    def _is_in_use(self, found: FoundModel) -> bool:
        return self.in_use is not None and found.info.path.resolve() == self.in_use.resolve()

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or index.row() >= len(self.models):
            return None
        found = self.models[index.row()]
        info = found.info
        chat, learn = chat_reason(info), found.cannot_learn
        if role == Qt.DisplayRole:
            name = f"{found.label}  · in use" if self._is_in_use(found) else found.label
            return (name, found.source, info.architecture, human_parameters(info.parameters),
                    info.quantization, human_size(info.size), "yes" if chat is None else "no",
                    "yes" if learn is None else "no")[index.column()]
        if role == Qt.ToolTipRole:
            if index.column() == 6 and chat:
                return f"Cannot chat: {chat}"
            if index.column() == 7 and learn:
                return learn  # a whole sentence: which file, and why
            return str(info.path)
        if role == Qt.FontRole and self._is_in_use(found):
            font = QFont()
            font.setBold(True)
            return font
        if role == PATH_ROLE:
            return str(info.path)
        return None
