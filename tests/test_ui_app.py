"""The desktop app as a whole: start-up without a display, accessibility, shortcuts, settings,
export, delete all data, and a clean shutdown."""

from __future__ import annotations

import json
import os
import stat

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSpinBox, QApplication,
                               QComboBox, QHeaderView, QLineEdit, QMessageBox,
                               QPlainTextEdit)

from app.context import Nocturne
from tests.conftest import run_cli
from ui.main_window import MainWindow
from ui.services import memory_service
from ui.views.settings_dialog import SettingsDialog, export_everything

CONTROLS = (QAbstractButton, QLineEdit, QPlainTextEdit, QComboBox, QAbstractSpinBox,
            QAbstractItemView)


@pytest.fixture
def window(qtbot, nocturne_home):
    win = MainWindow(Nocturne(nocturne_home), load=False)  # these tests need no model
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()


def dismiss_next_message_box() -> list[str]:
    """Click the default button of the next message box; returns its text once seen."""
    seen: list[str] = []

    def press():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, press)
            return
        seen.append(box.text())
        box.buttons()[0].click()
    QTimer.singleShot(0, press)
    return seen


def test_without_a_display_it_says_so_and_points_to_the_cli(nocturne_home):
    result = run_cli(home=nocturne_home, env={"QT_QPA_PLATFORM": "", "DISPLAY": "",
                                              "WAYLAND_DISPLAY": ""}, timeout=60)
    assert result.returncode == 1
    message = result.stderr.decode()
    assert "no display" in message and "`nocturne chat`" in message
    assert message.count("\n") == 1  # one sentence, no traceback


def part_of_a_control(widget) -> bool:
    parent = widget.parent()
    while parent is not None:
        if isinstance(parent, CONTROLS):
            return True
        parent = parent.parent()
    return False


def test_every_control_has_an_accessible_name(window):
    views = [window.chat_view, window.memories_view, window.learning_view]
    dialog = window.open_settings()
    unnamed = []
    for root in views + [dialog, window.tabs.cornerWidget()]:
        from PySide6.QtWidgets import QWidget

        for widget in [root] + root.findChildren(QWidget):
            if not isinstance(widget, CONTROLS) or isinstance(widget, QHeaderView):
                continue
            if part_of_a_control(widget):  # Qt's own parts: a line edit's clear button...
                continue
            name = QAccessible.queryAccessibleInterface(widget).text(QAccessible.Name)
            if not name.strip():
                unnamed.append(f"{type(widget).__name__} in {type(widget.parent()).__name__}")
    dialog.reject()
    assert unnamed == [], "\n".join(unnamed)


def test_standard_shortcuts_are_wired(qtbot, window):
    shortcuts = {a.shortcut().toString() for a in window.actions()}
    assert {"Ctrl+N", "Ctrl+F", "Esc", "Ctrl+,", "Ctrl+Q"} <= shortcuts
    window.tabs.setCurrentWidget(window.memories_view)
    window.new_action.trigger()
    assert window.tabs.currentWidget() is window.chat_view
    window.find_action.trigger()
    assert QApplication.focusWidget() is window.chat_view.panel.search or \
        window.chat_view.panel.search.hasFocus() or not window.isActiveWindow()
    dialog = window.open_settings()
    assert isinstance(dialog, SettingsDialog) and dialog.isVisible()
    dialog.reject()


def test_settings_are_validated_saved_and_reload_the_model(qtbot, window, tmp_path):
    dialog = window.open_settings()
    dialog.threads.setValue(2)
    dialog.context_size.setValue(4096)
    dialog.logging.setChecked(False)
    dialog.tray.setChecked(False)
    with qtbot.waitSignal(dialog.engine_settings_changed):
        assert dialog.save()
    settings = window.app.settings
    assert (settings.get("threads"), settings.get("context_size")) == (2, 4096)
    assert settings.get("logging_enabled") is False and settings.get("keep_running_in_tray") is False

    bad = tmp_path / "not-a-model.gguf"
    bad.write_text("hello")
    dialog = window.open_settings()
    dialog.model_path.setText(str(bad))
    seen = dismiss_next_message_box()
    assert not dialog.save()
    assert "not a GGUF model file" in seen[0]
    assert settings.get("model_path") is None  # nothing half-saved
    dialog.reject()


def test_export_writes_everything_owner_only(app, tmp_path):
    conversation = app.log.create("Trip")
    app.log.add_message(conversation, "user", "I am going to Lisbon.")
    memory_service(app).add("The user travels to Lisbon in May.")
    out = tmp_path / "export.json"
    export_everything(app, out)
    data = json.loads(out.read_text())
    assert data["conversations"][0]["messages"][0]["content"] == "I am going to Lisbon."
    assert data["memories"][0]["text"] == "The user travels to Lisbon in May."
    assert data["settings"]["learning_enabled"] is True
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_delete_all_data_really_deletes_the_data_folder(qtbot, window, nocturne_home):
    window.app.log.create("Something private")
    assert (nocturne_home / "nocturne.db").exists()
    with qtbot.waitSignal(window.all_data_deleted):
        window.delete_all_data()
    assert not nocturne_home.exists()
    assert not window.queue.thread.isRunning()


def test_closing_the_window_cancels_and_stops_the_model_thread(qtbot, window):
    window.app.settings.set("keep_running_in_tray", False)
    assert window.queue.thread.isRunning()
    window.close()
    assert not window.queue.thread.isRunning()
    assert window._shut_down
