"""The chat view against the real bundled model: stream, log, stop, rate, remember."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QObject, Qt, Slot

from app.context import Nocturne
from ui.main_window import MainWindow

MAX_TOKENS = 12


class Recorder(QObject):
    """Collects streamed pieces on the UI thread (a lambda would run on the worker's)."""

    def __init__(self, window: MainWindow):
        super().__init__()
        self.window = window
        self.pieces: list[str] = []
        self.shown: list[str] = []  # the answer widget's text as each piece arrived

    @Slot(int, str)
    def piece(self, job_id: int, text: str) -> None:
        self.pieces.append(text)
        answer = self.window.chat_view.message_widgets()[-1]
        self.shown.append(answer.text)


@pytest.fixture
def window(qtbot, nocturne_home):
    app = Nocturne(nocturne_home)
    win = MainWindow(app, max_tokens=MAX_TOKENS, load=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.queue.worker.loaded, timeout=120_000):
        win.queue.load()
    win.show()
    yield win
    win.shutdown()  # cancels every job and joins the model thread


def send_and_wait(qtbot, window: MainWindow, text: str, timeout: int = 120_000) -> dict:
    view = window.chat_view
    view.input.setFocus()
    qtbot.keyClicks(view.input, text)
    with qtbot.waitSignal(view.answer_finished, timeout=timeout) as blocker:
        qtbot.keyClick(view.input, Qt.Key_Return)
    return blocker.args[0]


def test_typed_message_streams_into_the_view_and_is_logged(qtbot, window):
    recorder = Recorder(window)
    window.queue.worker.piece.connect(recorder.piece)
    result = send_and_wait(qtbot, window, "What is the capital of France?")

    assert result["status"] == "complete"
    assert len(recorder.pieces) >= 2, "the answer arrived in one piece: it did not stream"
    assert "".join(recorder.pieces).strip() == result["text"]
    # The widget grew piece by piece while streaming (before the turn ended).
    assert recorder.shown[0] != recorder.shown[-1]
    assert window.chat_view.input.toPlainText() == ""

    rows = window.app.log.messages(result["conversation_id"])
    assert [(r["role"], r["status"]) for r in rows] == [("user", "complete"), ("assistant", "complete")]
    assert rows[0]["content"] == "What is the capital of France?"
    assert rows[1]["content"] == result["text"] and rows[1]["id"] == result["message_id"]
    widgets = window.chat_view.message_widgets()
    assert [w.role for w in widgets] == ["user", "assistant"]
    assert widgets[1].text == result["text"] and widgets[1].message_id == result["message_id"]
    assert "tokens/s" in window.speed_label.text()
    assert window.model_label.text() == "Model: SmolLM2-135M-Instruct.Q4_1"
    assert window.adapter_label.text() == "Adapter: base model"
    assert window.chat_view.panel.model.rowCount() == 1


def test_shift_enter_is_a_newline_and_sends_nothing(qtbot, window):
    view = window.chat_view
    qtbot.keyClicks(view.input, "first line")
    qtbot.keyClick(view.input, Qt.Key_Return, Qt.ShiftModifier)
    qtbot.keyClicks(view.input, "second")
    assert view.input.toPlainText() == "first line\nsecond"
    assert view.job_id is None and view.message_widgets() == []


def test_stop_cancels_the_answer_and_logs_it_as_cancelled(qtbot, window):
    window.queue.worker.max_tokens = 400  # long enough that Stop lands mid-answer
    view = window.chat_view
    with qtbot.waitSignal(window.queue.worker.piece, timeout=120_000):
        job = view.send("Write a long story about a dragon who learns to bake bread.")
    assert view.stop_button.isEnabled()
    assert window.stop_action.shortcut().toString() == "Esc"
    with qtbot.waitSignal(view.answer_finished, timeout=60_000) as blocker:
        window.stop_action.trigger()
    result = blocker.args[0]
    assert job is not None and result["status"] == "cancelled"
    row = window.app.store.query_one("SELECT * FROM messages WHERE id = ?", (result["message_id"],))
    assert row["status"] == "cancelled" and row["completion_tokens"] < 400
    assert not view.stop_button.isEnabled() and view.regenerate_button.isEnabled()
    assert "Stopped." in view.message_widgets()[-1].note.text()


def test_rating_correcting_and_remembering_are_stored(qtbot, window):
    result = send_and_wait(qtbot, window, "Say hello.")
    answer = window.chat_view.message_widgets()[-1]
    qtbot.mouseClick(answer.up_button, Qt.LeftButton)
    row = window.app.store.query_one("SELECT rating FROM messages WHERE id = ?", (result["message_id"],))
    assert row["rating"] == 1
    qtbot.mouseClick(answer.down_button, Qt.LeftButton)
    row = window.app.store.query_one("SELECT rating FROM messages WHERE id = ?", (result["message_id"],))
    assert row["rating"] == -1 and not answer.up_button.isChecked()

    question = window.chat_view.message_widgets()[0]
    qtbot.mouseClick(question.remember_button, Qt.LeftButton)
    memories = window.app.store.query("SELECT * FROM memories")
    assert [m["text"] for m in memories] == ["Say hello."]
    assert memories[0]["source_conversation_id"] == result["conversation_id"]
    assert window.memories_view.model.rowCount() == 1


def test_temporary_chat_is_never_logged(qtbot, window):
    window.chat_view.new_chat(temporary=True)
    assert "Temporary" in window.chat_view.title.text()
    result = send_and_wait(qtbot, window, "Hello")
    assert result["status"] == "complete" and result["message_id"] is None
    assert window.app.store.query("SELECT * FROM messages") == []
    assert not window.chat_view.message_widgets()[-1].up_button.isEnabled()


def test_regenerate_answers_the_same_message_again(qtbot, window):
    first = send_and_wait(qtbot, window, "Name a colour.")
    with qtbot.waitSignal(window.chat_view.answer_finished, timeout=120_000) as blocker:
        assert window.chat_view.regenerate() is not None
    second = blocker.args[0]
    assert second["conversation_id"] == first["conversation_id"]
    rows = window.app.log.messages(first["conversation_id"])
    assert [r["content"] for r in rows if r["role"] == "user"] == ["Name a colour."] * 2
    assert len([r for r in rows if r["role"] == "assistant"]) == 2


def test_reopening_a_conversation_shows_its_messages(qtbot, window):
    result = send_and_wait(qtbot, window, "Hi there")
    window.chat_view.new_chat()
    assert window.chat_view.message_widgets() == []
    window.open_conversation(result["conversation_id"])
    texts = [w.text for w in window.chat_view.message_widgets()]
    assert texts == ["Hi there", result["text"]]
    window.chat_view.panel.model.refresh("there")
    assert window.chat_view.panel.model.rowCount() >= 1


def test_switching_logging_off_in_settings_stops_logging_at_once(qtbot, window):
    dialog = window.open_settings()
    dialog.logging.setChecked(False)
    assert dialog.save()
    result = send_and_wait(qtbot, window, "Hello")
    assert result["status"] == "complete" and result["text"]
    assert result["message_id"] is None
    assert window.app.store.query("SELECT id FROM messages") == []
