"""File > Import chats…: the import runs off the UI thread, shows progress, and the lists refresh."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.context import Nocturne
from ui.main_window import MainWindow

EXPORTS = Path(__file__).parent / "data" / "exports"


@pytest.fixture
def window(qtbot, nocturne_home, monkeypatch):
    said: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _w, _t, text: said.append(("info", text)))
    monkeypatch.setattr(QMessageBox, "warning", lambda _w, _t, text: said.append(("warning", text)))
    win = MainWindow(Nocturne(nocturne_home), load=False)
    qtbot.addWidget(win)
    win.said = said
    yield win
    win.shutdown()


def test_importing_a_chatgpt_export_fills_the_conversation_list(window, qtbot):
    panel = window.chat_view.panel
    assert panel.list.model().rowCount() == 0
    with qtbot.waitSignal(window.chat_import.imported, timeout=60_000):
        window.chat_import.start(EXPORTS / "chatgpt_conversations.json")
    assert window.chat_import.wait()
    assert window.said == [("info", window.said[0][1])]
    assert window.said[0][1].startswith("Imported 2 conversations (6 messages) from ChatGPT")
    titles = [row["title"] for row in window.app.log.list()]
    assert "Moving to Tromsø" in titles
    assert panel.list.model().rowCount() == 2


def test_a_file_that_is_not_an_export_is_refused_in_one_sentence(window, qtbot, tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"notes": []}')
    window.chat_import.start(bad)
    qtbot.waitUntil(lambda: bool(window.said), timeout=30_000)
    assert window.chat_import.wait()
    kind, text = window.said[0]
    assert kind == "warning" and "is not a chat export" in text
    assert window.app.log.list() == []
