"""The Models pane: GGUFs found on this machine, pick one, add a file, download from Hugging Face.

Reading headers and downloading run on background threads; choosing a model only changes the
setting and emits `model_changed` (the main window reloads the engine on the model's thread).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QGridLayout, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from app.errors import NocturneError
from app.model_library import DownloadStopped, available_models, download_model, use_model
from ondevice.models import ModelFileError, bundled_model_path
from ui.background import BackgroundCall
from ui.dialogs import show_error
from ui.models.model_table import PATH_ROLE, ModelTableModel

LEAD = ("Nocturne chats with any GGUF model that has a chat template. It finds the ones LM "
        "Studio, Ollama, GPT4All, Jan and the Hugging Face cache keep; the bundled model "
        "always works.")
NONE_FOUND = ("Only the bundled model is here: no LM Studio, Ollama, GPT4All, Jan or Hugging Face "
              "models were found. Add a .gguf file, or download one below.")


class ModelsView(QWidget):
    """Lists, chooses and downloads models. Emits `model_changed` after the setting changed.

    Args:
        app: the Nocturne instance.
    """

    model_changed = Signal()
    listed = Signal()  # the list was (re)read: tests and the status bar wait on it

    def __init__(self, app, parent=None):
        super().__init__(parent)
        self.app = app
        self._scan: BackgroundCall | None = None
        self._download: BackgroundCall | None = None
        self._closed = False
        self._looked = False  # the first look happens when the pane is first shown
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(10)
        title = QLabel("Models")
        title.setObjectName("conversationTitle")
        layout.addWidget(title)
        lead = QLabel(LEAD)
        lead.setObjectName("emptyHint")
        lead.setWordWrap(True)
        layout.addWidget(lead)

        self.model = ModelTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Models found on this computer")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.doubleClicked.connect(lambda _index: self.use_selected())
        layout.addWidget(self.table, 1)

        row = QHBoxLayout()
        self.use_button = QPushButton("Use this model")
        self.use_button.setObjectName("primaryButton")
        self.use_button.setAccessibleName("Use the selected model")
        self.use_button.clicked.connect(self.use_selected)
        self.add_button = QPushButton("Add a file…")
        self.add_button.setAccessibleName("Add a GGUF file")
        self.add_button.clicked.connect(self.add_file)
        self.refresh_button = QPushButton("Look again")
        self.refresh_button.setAccessibleName("Look for models again")
        self.refresh_button.clicked.connect(self.refresh)
        self.status = QLabel()
        self.status.setObjectName("emptyHint")
        self.status.setWordWrap(True)
        for widget in (self.use_button, self.add_button, self.refresh_button):
            row.addWidget(widget)
        row.addWidget(self.status, 1)
        layout.addLayout(row)
        layout.addWidget(self._download_box())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._looked:
            self.refresh()
        elif not self._closed:  # Settings may have changed the model meanwhile
            self.model.set_in_use(self._in_use())

    def _download_box(self) -> QWidget:
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 8, 0, 0)
        heading = QLabel("Download from Hugging Face")
        heading.setObjectName("featureTitle")
        grid.addWidget(heading, 0, 0, 1, 4)
        self.repo_edit = QLineEdit()
        self.repo_edit.setPlaceholderText("Repo, e.g. bartowski/SmolLM2-360M-Instruct-GGUF")
        self.repo_edit.setAccessibleName("Hugging Face repo")
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("File, e.g. SmolLM2-360M-Instruct-Q4_K_M.gguf")
        self.file_edit.setAccessibleName("GGUF file in the repo")
        self.sha_edit = QLineEdit()
        self.sha_edit.setPlaceholderText("sha256 (optional)")
        self.sha_edit.setAccessibleName("Expected sha256")
        self.download_button = QPushButton("Download")
        self.download_button.setAccessibleName("Download the model")
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the download")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.cancel_button.setEnabled(False)
        self.cancel_button.hide()  # shown only while a download runs
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Download progress")
        self.progress.setTextVisible(False)
        self.progress.hide()
        grid.addWidget(self.repo_edit, 1, 0)
        grid.addWidget(self.file_edit, 1, 1)
        grid.addWidget(self.sha_edit, 1, 2)
        grid.addWidget(self.download_button, 1, 3)
        grid.addWidget(self.progress, 2, 0, 1, 3)
        grid.addWidget(self.cancel_button, 2, 3)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 2)
        return box

    # -- the list -----------------------------------------------------------------------------

    def _in_use(self) -> Path | None:
        path = self.app.settings.get("model_path")
        if path:
            return Path(path)
        try:
            return bundled_model_path()
        except ModelFileError:
            return None

    def refresh(self) -> None:
        """Look for models again, off the UI thread (reading headers takes a moment)."""
        if self._closed or (self._scan is not None and self._scan.is_running()):
            return
        self._looked = True
        home, trainer = self.app.home, self.app.settings.get("trainer")
        self._scan = BackgroundCall(lambda _report, _stopped: available_models(home, trainer=trainer), self)
        self._scan.done.connect(self._listed)
        self._scan.failed.connect(self._say)
        self.status.setText("Looking for models…")
        self._scan.start()

    def _listed(self, models) -> None:
        if self._closed:  # the answer arrived after shutdown: the store is closed
            return
        self.model.set_models(models, self._in_use())
        self.status.setText(f"{len(models)} models found." if len(models) > 1 else NONE_FOUND)
        self.listed.emit()

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def selected_path(self) -> str | None:
        index = self.table.currentIndex()
        return index.siblingAtColumn(0).data(PATH_ROLE) if index.isValid() else None

    def select(self, path: str | Path) -> None:
        row = self.model.row_of(Path(path))
        if row >= 0:
            self.table.selectRow(row)

    # -- choosing -----------------------------------------------------------------------------

    def use_selected(self) -> None:
        path = self.selected_path()
        if path is None:
            self.status.setText("Select a model in the list first.")
            return
        self.use_path(path)

    def use_path(self, path: str | Path) -> bool:
        """Make `path` the chat model; the engine reloads in the background. False if refused."""
        try:
            name = use_model(self.app, path)
        except NocturneError as exc:
            show_error(self, exc)
            return False
        self.model.set_in_use(self._in_use())
        self.status.setText(f"Chats now use {name}; it is loading in the background.")
        self.model_changed.emit()
        return True

    def add_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model", str(Path.home()),
                                              "GGUF models (*.gguf);;All files (*)")
        if path and self.use_path(path):
            self.refresh()

    # -- downloading --------------------------------------------------------------------------

    @property
    def downloading(self) -> bool:
        return not self.download_button.isEnabled()  # re-enabled when the last one ended

    def start_download(self) -> None:
        if self.downloading:
            return
        if self._download is not None:
            self._download.wait()  # the last one has ended; let its thread finish exiting
        repo, filename = self.repo_edit.text().strip(), self.file_edit.text().strip()
        sha256 = self.sha_edit.text().strip() or None
        if not repo or not filename:
            self.status.setText("Type the repo (owner/name) and the .gguf file to download.")
            return
        home = self.app.home
        self._download = BackgroundCall(
            lambda report, stopped: download_model(home, repo, filename, sha256,
                                                   progress=report, should_stop=stopped),
            self, cancel_types=(DownloadStopped,))
        self._download.progress.connect(self._download_progress)
        self._download.done.connect(self._downloaded)
        self._download.failed.connect(self._download_ended)
        self._download.cancelled.connect(self._download_ended)
        self.progress.setRange(0, 0)  # busy until the size is known
        self.progress.show()
        self.download_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.status.setText(f"Downloading {filename}…")
        self._download.start()

    def _download_progress(self, progress) -> None:
        if progress.total:
            # QProgressBar is 32-bit: count in KB so multi-GB files fit.
            self.progress.setRange(0, progress.total // 1024)
            self.progress.setValue(progress.done // 1024)
            self.status.setText(f"Downloading: {progress.done / 1e6:.0f} of "
                                f"{progress.total / 1e6:.0f} MB")

    def _downloaded(self, path) -> None:
        if self._closed:
            return
        self._download_ended(f"Downloaded {Path(path).name}. Select it and click Use this model.")
        self.refresh()
        self.listed.connect(lambda: self.select(path), Qt.SingleShotConnection)

    def _download_ended(self, message: str) -> None:
        self.progress.hide()
        self.download_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.cancel_button.hide()
        self.cancel_button.hide()  # shown only while a download runs
        self.status.setText(message)

    def cancel_download(self) -> None:
        if self._download is not None:
            self._download.cancel()

    def shutdown(self) -> None:
        """Stop a download (it resumes next time) and wait for background reads."""
        self._closed = True
        for call in (self._download, self._scan):
            if call is not None:
                call.cancel()
                call.wait()
