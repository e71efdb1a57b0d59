"""Settings: model file, threads, context size, logging, tray, data folder, export, delete all."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLineEdit, QMessageBox, QPushButton,
                               QSpinBox, QVBoxLayout)

from app.cli.history import export_all, write_private
from app.errors import ModelError, NocturneError
from ondevice.models import ModelFileError, check_gguf
from ui.dialogs import confirm, show_error
from ui.services import memory_service

ENGINE_KEYS = ("model_path", "threads", "context_size")  # changing these reloads the model


def export_everything(app, path: Path) -> None:
    """Write every conversation, memory and setting to `path` as JSON, owner-only.

    Args:
        app: the Nocturne instance.
        path: the file to write.
    """
    data = {"conversations": export_all(app.log), "memories": memory_service(app).list(),
            "settings": app.settings.all()}
    write_private(Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def check_model_file(path: str) -> None:
    """Raise ModelError (one sentence with the fix) unless `path` is a readable GGUF file."""
    try:
        check_gguf(Path(path).expanduser())
    except ModelFileError as exc:
        raise ModelError(str(exc)) from exc


class SettingsDialog(QDialog):
    """Edits the settings; Save validates each through app.settings and stores them.

    Args:
        app: the Nocturne instance.
    """

    engine_settings_changed = Signal()
    delete_all_requested = Signal()

    def __init__(self, app, parent=None):
        super().__init__(parent)
        self.app = app
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.addWidget(self._model_box())
        layout.addWidget(self._privacy_box())
        layout.addWidget(self._data_box())
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Save).setAccessibleName("Save settings")
        buttons.button(QDialogButtonBox.Cancel).setAccessibleName("Cancel")
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        form = QFormLayout(box)
        get = self.app.settings.get
        self.model_path = QLineEdit(get("model_path") or "")
        self.model_path.setPlaceholderText("Bundled: SmolLM2-135M-Instruct (Q4_1)")
        self.model_path.setAccessibleName("Model file")
        browse = QPushButton("Choose…")
        browse.setAccessibleName("Choose a GGUF model file")
        browse.clicked.connect(self._pick_model)
        row = QHBoxLayout()
        row.addWidget(self.model_path, 1)
        row.addWidget(browse)
        form.addRow("Model file:", row)
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(get("threads") or 0)
        self.threads.setAccessibleName("CPU threads")
        form.addRow("CPU threads:", self.threads)
        self.context_size = QSpinBox()
        self.context_size.setRange(512, 32768)
        self.context_size.setSingleStep(512)
        self.context_size.setSuffix(" tokens")
        self.context_size.setValue(get("context_size"))
        self.context_size.setAccessibleName("Context size")
        form.addRow("Context size:", self.context_size)
        return box

    def _privacy_box(self) -> QGroupBox:
        box = QGroupBox("Behaviour")
        form = QFormLayout(box)
        self.logging = QCheckBox("Save my chats (off: nothing is written or learned)")
        self.logging.setChecked(self.app.settings.get("logging_enabled"))
        self.logging.setAccessibleName("Save chats")
        self.tray = QCheckBox("Keep running in the system tray when the window closes")
        self.tray.setChecked(self.app.settings.get("keep_running_in_tray"))
        self.tray.setAccessibleName("Keep running in the tray")
        form.addRow(self.logging)
        form.addRow(self.tray)
        return box

    def _data_box(self) -> QGroupBox:
        box = QGroupBox("Your data")
        form = QFormLayout(box)
        folder = QLineEdit(str(self.app.home))
        folder.setReadOnly(True)
        folder.setAccessibleName("Data folder")
        open_folder = QPushButton("Open")
        open_folder.setAccessibleName("Open the data folder")
        open_folder.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.app.home))))
        row = QHBoxLayout()
        row.addWidget(folder, 1)
        row.addWidget(open_folder)
        form.addRow("Data folder:", row)
        export = QPushButton("Export all data…")
        export.setAccessibleName("Export all data")
        export.clicked.connect(self._export)
        delete = QPushButton("Delete all data…")
        delete.setAccessibleName("Delete all data")
        delete.setObjectName("dangerButton")
        delete.clicked.connect(self._delete_all)
        row = QHBoxLayout()
        row.addWidget(export)
        row.addStretch(1)
        row.addWidget(delete)
        form.addRow(row)
        return box

    # -- actions ------------------------------------------------------------------------------

    def values(self) -> dict:
        """The settings as edited (not saved yet)."""
        return {"model_path": self.model_path.text().strip() or None,
                "threads": self.threads.value() or None,
                "context_size": self.context_size.value(),
                "logging_enabled": self.logging.isChecked(),
                "keep_running_in_tray": self.tray.isChecked()}

    def save(self) -> bool:
        """Validate and store every setting; on a bad value say why and keep the dialog open."""
        before = {key: self.app.settings.get(key) for key in ENGINE_KEYS}
        try:
            if self.values()["model_path"]:
                check_model_file(self.values()["model_path"])  # now, not at the next answer
            for key, value in self.values().items():
                self.app.settings.set(key, value)
        except NocturneError as exc:
            show_error(self, exc)
            return False
        if any(self.app.settings.get(key) != before[key] for key in ENGINE_KEYS):
            self.engine_settings_changed.emit()
        self.accept()
        return True

    def _pick_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model file", str(Path.home()),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.model_path.setText(path)

    def _export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export all data",
                                              str(Path.home() / "nocturne-export.json"),
                                              "JSON (*.json)")
        if not path:
            return
        try:
            export_everything(self.app, Path(path))
        except NocturneError as exc:
            show_error(self, exc)
            return
        QMessageBox.information(self, "Export all data", f"Everything was written to {path}.")

    def _delete_all(self) -> None:
        ok, _ = confirm(self, "Delete all data",
                        f"Delete every conversation, memory, adapter and setting in "
                        f"{self.app.home} for good? Nocturne closes afterwards; this cannot be "
                        "undone.", destructive="Delete everything")
        if ok:
            self.reject()
            self.delete_all_requested.emit()
