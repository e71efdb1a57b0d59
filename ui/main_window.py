"""The main window: Chat, Memories and Learning tabs, menus with standard shortcuts, status bar."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QTabWidget, QToolButton

from app.store import delete_all_data
from ui.icon import app_icon
from ui.import_chats import ChatImport
from ui.views.chat_view import ChatView
from ui.views.learning_view import LearningView
from ui.views.memories_view import MemoriesView
from ui.views.models_view import ModelsView
from ui.views.settings_dialog import SettingsDialog
from ui.warmup import warm_imports
from ui.workers import ModelQueue


class MainWindow(QMainWindow):
    """Nocturne's window. Owns the model queue; `shutdown()` cancels everything cleanly.

    Args:
        app: the Nocturne instance.
        scheduler: the started NightlyScheduler, or None.
        max_tokens: cap answers at this many tokens (tests and benchmarks), None: default.
        load: start loading the model at once (in the background).
    """

    closed_to_tray = Signal()
    all_data_deleted = Signal()  # ui.app tells the user and quits

    def __init__(self, app, scheduler=None, max_tokens: int | None = None, load: bool = True):
        super().__init__()
        self.app = app
        self.scheduler = scheduler
        self.tray = None  # set by ui.app when the desktop has a system tray
        self._shut_down = False
        self.setWindowTitle("Nocturne")
        self.setWindowIcon(app_icon())
        self.setAccessibleName("Nocturne")
        self.resize(1100, 720)

        # Before the window is on screen: importing llama.cpp on the model's thread held the
        # GIL long enough to freeze the visible window (up to a second on a busy machine).
        app.import_engine_runtime()
        self.warmup = warm_imports()  # a first code block or download never waits on imports
        self.queue = ModelQueue(app, max_tokens, self)
        self.chat_view = ChatView(app, self.queue)
        self.memories_view = MemoriesView(app)
        self.learning_view = LearningView(app, scheduler)
        self.models_view = ModelsView(app)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Views")
        self.tabs.setDocumentMode(True)
        self.tabs.tabBar().setDrawBase(False)  # its base line stopped short of the corner button
        self.tabs.addTab(self.chat_view, "Chat")
        self.tabs.addTab(self.memories_view, "Memories")
        self.tabs.addTab(self.learning_view, "Learning")
        self.tabs.addTab(self.models_view, "Models")
        settings_button = QToolButton()
        settings_button.setText("Settings")
        settings_button.setAccessibleName("Settings")
        settings_button.setToolTip("Settings (Ctrl+,)")
        settings_button.setAutoRaise(True)
        settings_button.clicked.connect(self.open_settings)
        self.tabs.setCornerWidget(settings_button, Qt.TopRightCorner)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.setCentralWidget(self.tabs)
        self.chat_import = ChatImport(self.app.home, self)
        self._status_bar()
        self._menus()
        self._connect()
        if load:
            self.queue.load()

    # -- building -----------------------------------------------------------------------------

    def _status_bar(self) -> None:
        self.model_label = QLabel("Model: loading…")
        self.adapter_label = QLabel("")
        self.speed_label = QLabel("")
        for label, name in ((self.model_label, "Model"), (self.adapter_label, "Adapter"),
                            (self.speed_label, "Speed of the last answer")):
            label.setAccessibleName(name)
            self.statusBar().addPermanentWidget(label)

    def _action(self, menu, text: str, shortcut, slot) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.new_action = self._action(file, "&New chat", "Ctrl+N", lambda: self._new_chat(False))
        self._action(file, "New &temporary chat", "Ctrl+Shift+N", lambda: self._new_chat(True))
        file.addSeparator()
        self.import_action = self._action(file, "&Import chats…", None,
                                          self.chat_import.choose_and_start)
        file.addSeparator()
        self.settings_action = self._action(file, "&Settings…", "Ctrl+,", self.open_settings)
        file.addSeparator()
        self._action(file, "&Close window", "Ctrl+W", self.close)
        self._action(file, "&Quit", "Ctrl+Q", self.quit_app)
        edit = bar.addMenu("&Edit")
        self.find_action = self._action(edit, "&Find…", "Ctrl+F", self.find)
        chat = bar.addMenu("&Chat")
        self.stop_action = self._action(chat, "&Stop answering", "Esc", self.chat_view.stop)
        self._action(chat, "&Regenerate", "Ctrl+R", self.chat_view.regenerate)
        view = bar.addMenu("&View")
        for number, name in enumerate(("&Chat", "&Memories", "&Learning", "M&odels")):
            self._action(view, name, f"Ctrl+{number + 1}",
                         lambda _=False, n=number: self.tabs.setCurrentIndex(n))

    def _connect(self) -> None:
        worker = self.queue.worker
        # Bound methods, never lambdas: a lambda would run in the worker's thread.
        worker.load_started.connect(self._loading)
        worker.loaded.connect(self._loaded)
        worker.load_failed.connect(self._load_failed)
        self.chat_view.answer_finished.connect(self._answer_finished)
        self.chat_view.memories_changed.connect(self.memories_view.refresh)
        self.chat_view.status_message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.memories_view.open_conversation.connect(self.open_conversation)
        self.chat_import.imported.connect(self.chat_view.panel.refresh)
        self.chat_import.imported.connect(self.memories_view.refresh)
        self.learning_view.adapter_changed.connect(self.queue.reload)
        self.models_view.model_changed.connect(self.queue.reload)
        self.learning_view.adapter_ready.connect(lambda text: self.statusBar().showMessage(text, 15000))
        # Forgetting is immediate: editing, rejecting or deleting a memory can taint the loaded
        # adapter; the learning view checks and asks for a reload when it must go.
        self.memories_view.changed.connect(self.learning_view.refresh)
        self.memories_view.adapters_tainted.connect(self.learning_view.refresh)
        self.chat_view.panel.adapters_tainted.connect(self.learning_view.refresh)

    # -- slots --------------------------------------------------------------------------------

    def _loading(self) -> None:
        self.model_label.setText("Model: loading…")
        self.adapter_label.setText("")  # never name an adapter the engine has not loaded
        self.learning_view.set_loaded(None)

    def _loaded(self, info: dict) -> None:
        if self._shut_down:  # a load that finished while closing: the store is gone
            return
        self.model_label.setText(f"Model: {info['model']}")
        self.adapter_label.setText(f"Adapter: {info['adapter']}" if info["adapter"]
                                   else "Adapter: base model")
        self.learning_view.set_loaded(info)
        self.chat_view.show_notice(info.get("notice"))

    def _load_failed(self, message: str) -> None:
        self.model_label.setText("Model: not loaded")
        self.chat_view.show_notice(message)

    def _answer_finished(self, result: dict) -> None:
        speed = result.get("tokens_per_s")
        self.speed_label.setText(f"{speed:.1f} tokens/s" if speed else "")
        if result.get("status") == "error":
            self.statusBar().showMessage(result.get("error") or "The answer failed.", 8000)

    def _tab_changed(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if widget in (self.memories_view, self.learning_view):
            widget.refresh()

    def _new_chat(self, temporary: bool) -> None:
        self.tabs.setCurrentWidget(self.chat_view)
        self.chat_view.new_chat(temporary)

    def find(self) -> None:
        """Ctrl+F: search in the current view."""
        if self.tabs.currentWidget() is self.memories_view:
            self.memories_view.search.setFocus()
            self.memories_view.search.selectAll()
        else:
            self.tabs.setCurrentWidget(self.chat_view)
            self.chat_view.panel.search.setFocus()
            self.chat_view.panel.search.selectAll()

    def open_conversation(self, conversation_id: int) -> None:
        self.tabs.setCurrentWidget(self.chat_view)
        self.chat_view.open_conversation(conversation_id)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.app, self)
        dialog.engine_settings_changed.connect(self.queue.reload)
        dialog.delete_all_requested.connect(self.delete_all_data)
        dialog.open()
        return dialog

    def learn_now(self) -> None:
        self.tabs.setCurrentWidget(self.learning_view)
        self.learning_view.learn_now()

    def delete_all_data(self) -> None:
        """Delete the whole data folder for good, then quit (the next start is a fresh one)."""
        home = self.app.home
        if self.scheduler is not None:
            self.scheduler.cancel_run()  # a learning run must not write into a folder being deleted
        self.shutdown()
        delete_all_data(home)
        self.hide()
        self.all_data_deleted.emit()

    # -- closing ------------------------------------------------------------------------------

    def closeEvent(self, event) -> None:
        if (self.tray is not None and self.tray.isVisible() and not self._shut_down
                and self.app.settings.get("keep_running_in_tray")):
            event.ignore()
            self.hide()
            self.closed_to_tray.emit()
            return
        self.shutdown()
        event.accept()
        if self.tray is not None:
            QApplication.quit()

    def quit_app(self) -> None:
        self.shutdown()
        QApplication.quit()

    def shutdown(self) -> None:
        """Cancel the answer and queued jobs, stop the model thread and scheduler, close the store."""
        if self._shut_down:
            return
        self._shut_down = True
        self.learning_view.poll.stop()
        self.models_view.shutdown()
        self.queue.shutdown()
        if self.scheduler is not None:
            self.scheduler.shutdown()
        self.app.close()
        if self.tray is not None:
            self.tray.hide()
