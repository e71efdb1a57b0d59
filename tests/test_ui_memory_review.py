"""The memories view at import scale: many rows selected at once, filters by source, kind and
conversation, and "Approve/Reject all shown" (confirmed with the count). The proposals come from
real imports of the fixture exports through app/history_import.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel

from app.context import Nocturne
from app.history_import import import_history
from bench.devset_chats import chats_with_user_turns, write_claude_export
from tests.test_ui_memories import answer_confirmation, cell
from ui.views.memories_view import MemoriesView

EXPORTS = Path(__file__).parent / "data" / "exports"


@pytest.fixture
def app(nocturne_home):
    instance = Nocturne(nocturne_home)
    for name in ("chatgpt_conversations.json", "claude_conversations.json", "open_webui_chats.json"):
        import_history(instance, EXPORTS / name)
    instance.memories().add("I prefer short answers", kind="preference")
    yield instance
    instance.close()


@pytest.fixture
def view(qtbot, app):
    widget = MemoriesView(app)
    qtbot.addWidget(widget)
    return widget


def choose(combo, value) -> None:
    combo.setCurrentIndex(combo.findData(value))


def shown(view) -> set[str]:
    return {cell(view, row, "Memory") for row in range(view.model.rowCount())}


def status_of(app, text: str) -> str:
    return app.store.query_one("SELECT status FROM memories WHERE text = ?", (text,))["status"]


def test_filters_narrow_the_list_by_source_kind_and_conversation(view):
    assert view.model.rowCount() == 6
    choose(view.source_filter, "chatgpt")
    assert shown(view) == {"I live in Tromsø", "I work as a marine biologist"}
    assert {cell(view, r, "Source") for r in range(2)} == {"Conversation 1 (ChatGPT)"}
    choose(view.source_filter, "imported")
    choose(view.kind_filter, "preference")
    assert shown(view) == {"I don't eat meat"}
    choose(view.kind_filter, None)
    choose(view.source_filter, "hand")
    assert shown(view) == {"I prefer short answers"}
    choose(view.source_filter, None)
    titles = [view.conversation_filter.itemText(i) for i in range(view.conversation_filter.count())]
    assert titles[0] == "All conversations" and "Planning the Bergen marathon (2)" in titles
    view.conversation_filter.setCurrentIndex(titles.index("Planning the Bergen marathon (2)"))
    assert shown(view) == {"My daughter Lumi is 7", "I run the Bergen marathon every September"}


def test_many_selected_rows_are_approved_at_once(view, app):
    choose(view.status_filter, "pending")
    selection = view.table.selectionModel()
    for row in (0, 2, 4):
        selection.select(view.model.index(row, 0), QItemSelectionModel.Select | QItemSelectionModel.Rows)
    picked = {cell(view, row, "Memory") for row in (0, 2, 4)}
    assert view.approve_button.text() == "Approve 3" and view.approve_button.isEnabled()
    assert not view.edit_button.isEnabled()  # editing is for one memory
    view.approve_button.click()
    assert {text for text in picked if status_of(app, text) == "approved"} == picked
    assert view.model.rowCount() == 2  # the pending filter now shows the other two
    assert all(status_of(app, text) == "pending" for text in shown(view))


def test_approve_all_shown_acts_on_exactly_the_filtered_rows_after_confirming_the_count(view, app):
    choose(view.status_filter, "pending")
    choose(view.source_filter, "claude")
    texts = shown(view)
    asked: list[str] = []
    answer_confirmation(False, asked, cancel=True)  # Cancel first: nothing changes
    view.approve_shown_button.click()
    assert asked == ["Approve the 2 memories shown? They are used in your chats at once and "
                     "learned tonight.", "Cancel"]
    assert all(status_of(app, text) == "pending" for text in texts)
    answer_confirmation(False, asked)
    view.approve_shown_button.click()
    assert asked[-1] == "Approve 2 memories"
    assert all(status_of(app, text) == "approved" for text in texts)
    others = app.store.query("SELECT text, status FROM memories WHERE text NOT IN (?, ?)", tuple(texts))
    assert {r["text"]: r["status"] for r in others} == {  # the rows not shown were left alone
        "I live in Tromsø": "pending", "I work as a marine biologist": "pending",
        "I don't eat meat": "pending", "I prefer short answers": "approved"}
    assert view.model.rowCount() == 0 and "No memories match" in view.empty.text()


def test_reject_all_shown_on_hundreds_of_imported_proposals(qtbot, nocturne_home, tmp_path):
    app = Nocturne(nocturne_home)
    try:
        result = import_history(app, write_claude_export(tmp_path / "conversations.json",
                                                         chats_with_user_turns(400)))
        view = MemoriesView(app)
        qtbot.addWidget(view)
        choose(view.status_filter, "pending")
        assert view.model.rowCount() == result.proposed_memories >= 100
        asked: list[str] = []
        answer_confirmation(False, asked)
        view.reject_shown_button.click()
        assert asked[0].startswith(f"Reject the {result.proposed_memories} memories shown?")
        assert asked[1] == f"Reject {result.proposed_memories} memories"
        assert app.store.query("SELECT DISTINCT status FROM memories") == [{"status": "rejected"}]
    finally:
        app.close()
