"""File > Import chats…: bring in another app's chat export off the UI thread, with progress."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from app.errors import NocturneError
from app.history_import import import_history

PROGRESS_STEPS = 1000


class ImportWorker(QObject):
    """Runs one import in its own thread, with its own store connection (SQLite connections
    stay in the thread that opened them)."""

    progress = Signal(int)  # 0..PROGRESS_STEPS
    finished = Signal(str)  # the summary sentence
    failed = Signal(str)

    def __init__(self, home: Path, path: Path):
        super().__init__()
        self.home, self.path = home, path
        self.cancelled = False

    @Slot()
    def run(self) -> None:
        from app.context import Nocturne

        app = Nocturne(self.home)
        try:
            result = import_history(
                app, self.path, should_stop=lambda: self.cancelled,
                on_progress=lambda done, total: self.progress.emit(
                    PROGRESS_STEPS * done // total if total else 0))
        except NocturneError as exc:
            self.failed.emit(str(exc))
            return
        finally:
            app.close()
        summary = result.summary()
        self.finished.emit(("Stopped early. " if self.cancelled else "") + summary)


class ChatImport(QObject):
    """One import started from the window: a file dialog, a progress dialog, a result box.

    Emits `imported` when conversations were written, so the lists can refresh.
    """

    imported = Signal()

    def __init__(self, home: Path, parent: QWidget):
        super().__init__(parent)
        self.home = home
        self.window = parent
        self.thread: QThread | None = None
        self.worker: ImportWorker | None = None
        self.dialog: QProgressDialog | None = None

    def choose_and_start(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import chats", str(Path.home()),
            "Chat exports: ChatGPT, Claude, Open WebUI, Nocturne (*.json *.zip);;All files (*)")
        if path:
            self.start(Path(path))

    def start(self, path: Path) -> None:
        self.dialog = QProgressDialog(f"Importing {path.name}…", "Stop", 0, PROGRESS_STEPS, self.window)
        self.dialog.setWindowTitle("Import chats")
        self.dialog.setMinimumDuration(0)
        self.dialog.setValue(0)
        self.worker = ImportWorker(self.home, path)
        self.thread = QThread(self)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.progress.connect(self.dialog.setValue)
        self.worker.finished.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.dialog.canceled.connect(self._cancel)
        self.thread.start()

    def wait(self, ms: int = 60_000) -> bool:
        """Block until the import thread ends (tests and quitting)."""
        return self.thread is None or self.thread.wait(ms)

    def _cancel(self) -> None:
        if self.worker:
            self.worker.cancelled = True

    def _end(self) -> None:
        self.thread.quit()
        self.dialog.reset()

    def _finished(self, summary: str) -> None:
        self._end()
        self.imported.emit()
        QMessageBox.information(self.window, "Import chats", summary)

    def _failed(self, message: str) -> None:
        self._end()
        QMessageBox.warning(self.window, "Import chats", message)
