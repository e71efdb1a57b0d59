"""The memories view: a table over the store; approve, reject, edit, add, delete (confirmed)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.context import Nocturne
from ui.models.memory_table import COLUMNS, MEMORY_ID_ROLE
from ui.services import memory_service
from ui.views.memories_view import MemoriesView


@pytest.fixture
def app(nocturne_home):
    instance = Nocturne(nocturne_home)
    yield instance
    instance.close()


@pytest.fixture
def seeded(app):
    """One conversation with a memory taken from it, plus one memory added by hand."""
    conversation = app.log.create("About my cat")
    message = app.log.add_message(conversation, "user", "My cat is called Miso.")
    service = memory_service(app)
    from_chat = service.remember_message(message)
    typed = service.add("I prefer short answers.", kind="preference", status="pending")
    return {"conversation": conversation, "from_chat": from_chat, "typed": typed}


def answer_confirmation(check_also: bool, shown: list | None = None, cancel: bool = False) -> None:
    """Press the confirming button (Delete, Approve ...) in the confirmation box once it is shown
    (ticking its checkbox if asked), or Cancel.

    `shown` receives the box's text, its checkbox's label if any, then the pressed button's label.
    """
    def press():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, press)
            return
        if shown is not None:
            shown.append(box.text())
            if box.checkBox() is not None:
                shown.append(box.checkBox().text())
        if check_also:
            box.checkBox().setChecked(True)
        role = QMessageBox.RejectRole if cancel else QMessageBox.DestructiveRole
        button = next(b for b in box.buttons() if box.buttonRole(b) == role)
        if shown is not None:
            shown.append(button.text())
        button.click()
    QTimer.singleShot(0, press)


def cell(view: MemoriesView, row: int, column: str) -> str:
    return view.model.data(view.model.index(row, COLUMNS.index(column)))


def row_of(view: MemoriesView, memory_id: int) -> int:
    return next(r for r in range(view.model.rowCount())
                if view.model.data(view.model.index(r, 0), MEMORY_ID_ROLE) == memory_id)


def test_table_shows_every_memory_with_kind_status_source_and_learned(qtbot, app, seeded):
    view = MemoriesView(app)
    qtbot.addWidget(view)
    assert view.model.rowCount() == 2
    row = row_of(view, seeded["from_chat"])
    assert cell(view, row, "Memory") == "My cat is called Miso."
    assert cell(view, row, "Status") == "approved"
    assert cell(view, row, "Source") == f"Conversation {seeded['conversation']}"
    assert cell(view, row, "Learned") == "Not yet"
    typed = row_of(view, seeded["typed"])
    assert (cell(view, typed, "Kind"), cell(view, typed, "Status")) == ("preference", "pending")


def test_deleting_a_memory_in_the_table_removes_it_from_the_store(qtbot, app, seeded):
    view = MemoriesView(app)
    qtbot.addWidget(view)
    view.table.selectRow(row_of(view, seeded["typed"]))
    answer_confirmation(check_also=False)
    view.delete()
    assert app.store.query("SELECT id FROM memories WHERE id = ?", (seeded["typed"],)) == []
    assert view.model.rowCount() == 1
    assert app.store.query_one("SELECT id FROM conversations") is not None


def test_delete_can_also_delete_the_source_conversation(qtbot, app, seeded):
    view = MemoriesView(app)
    qtbot.addWidget(view)
    view.table.selectRow(row_of(view, seeded["from_chat"]))
    shown: list[str] = []
    answer_confirmation(check_also=True, shown=shown)
    view.delete()
    assert "This conversation mentions it and is kept" in shown[0]
    assert shown[1] == "Also delete this conversation"  # one, not "these 1 conversations"
    assert app.store.query("SELECT id FROM memories WHERE id = ?", (seeded["from_chat"],)) == []
    assert app.store.query("SELECT id FROM conversations") == []
    assert app.store.query("SELECT id FROM messages") == []


def test_the_confirmation_lists_the_conversations_that_mention_it_and_spares_the_rest(qtbot, app, seeded):
    used = app.log.create("Cat question")
    app.log.add_message(used, "assistant", "Your cat is called Miso.")
    unrelated = app.log.create("Maths")
    app.log.add_message(unrelated, "user", "what is 2+2")
    view = MemoriesView(app)
    qtbot.addWidget(view)
    view.table.selectRow(row_of(view, seeded["from_chat"]))
    shown: list[str] = []
    answer_confirmation(check_also=True, shown=shown)
    view.delete()
    assert "• About my cat (it came from there)" in shown[0]
    assert "• Cat question (it is mentioned)" in shown[0] and "Maths" not in shown[0]
    assert shown[1] == "Also delete these 2 conversations"
    assert [r["id"] for r in app.store.query("SELECT id FROM conversations")] == [unrelated]


def test_approve_reject_and_filters(qtbot, app, seeded):
    view = MemoriesView(app)
    qtbot.addWidget(view)
    view.table.selectRow(row_of(view, seeded["typed"]))
    assert view.approve_button.isEnabled()
    qtbot.mouseClick(view.approve_button, Qt.LeftButton)
    assert memory_service(app).get(seeded["typed"])["status"] == "approved"
    qtbot.mouseClick(view.reject_button, Qt.LeftButton)
    assert memory_service(app).get(seeded["typed"])["status"] == "rejected"

    view.status_filter.setCurrentIndex(view.status_filter.findData("rejected"))
    assert view.model.rowCount() == 1 and cell(view, 0, "Memory") == "I prefer short answers."
    view.status_filter.setCurrentIndex(0)
    qtbot.keyClicks(view.search, "Miso")  # the search runs when typing pauses
    qtbot.waitUntil(lambda: view.model.rowCount() == 1)
    assert cell(view, 0, "Memory") == "My cat is called Miso."
    view.search.setText("nothing like this")
    qtbot.waitUntil(lambda: view.stack.currentWidget() is view.empty)
    assert "No memories match" in view.empty.text()


def test_empty_state_and_source_link(qtbot, app, seeded):
    view = MemoriesView(app)
    qtbot.addWidget(view)
    view.table.selectRow(row_of(view, seeded["from_chat"]))
    with qtbot.waitSignal(view.open_conversation) as blocker:
        qtbot.mouseClick(view.open_button, Qt.LeftButton)
    assert blocker.args == [seeded["conversation"]]
    for memory_id in (seeded["from_chat"], seeded["typed"]):
        assert view.delete_memory(memory_id)
    assert view.stack.currentWidget() is view.empty and "No memories yet" in view.empty.text()


def test_deleting_a_learned_memory_taints_its_adapter_and_asks_for_a_reload(qtbot, app, seeded):
    with app.store.transaction() as db:
        db["adapters"].insert({"version": "v1", "path": "", "base_sha256": "x", "trainer": "llamacpp",
                               "status": "active", "created_at": "2025-06-01T03:00:00+00:00"})
        db["adapter_memories"].insert({"adapter_version": "v1", "memory_id": seeded["typed"],
                                       "content_sha256": "x", "recalled": 1})
    view = MemoriesView(app)
    qtbot.addWidget(view)
    assert cell(view, row_of(view, seeded["typed"]), "Learned") == "Yes"
    with qtbot.waitSignal(view.adapters_tainted):
        assert view.delete_memory(seeded["typed"])
    assert app.store.query_one("SELECT status FROM adapters WHERE version = 'v1'")["status"] == "tainted"
