"""The chat service with the real bundled model and a real SQLite file."""

from __future__ import annotations

import socket

import pytest

from app.chat import ChatService
from app.conversations import Conversation
from app.errors import InputError, StoreError
from app.prompt import fit_prompt, system_message
from ondevice.engine import GenerationOptions

GREEDY = GenerationOptions(max_tokens=48, temperature=0.0, seed=1)


@pytest.fixture
def service(app) -> ChatService:
    chat = app.chat()
    chat.settings.options = GREEDY
    return chat


def test_answers_from_the_bundled_model_and_logs_the_turn(app, service):
    conversation = Conversation()
    reply = service.reply(conversation, "What is the capital of France?").consume()
    assert "paris" in reply.text.lower()
    assert reply.status == "complete"
    rows = app.log.messages(conversation.id)
    assert [r["role"] for r in rows] == ["user", "assistant"]
    answer = rows[1]
    assert answer["content"] == reply.text
    assert answer["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert answer["completion_tokens"] > 0 and answer["prompt_tokens"] > 0
    assert answer["ttft_ms"] > 0 and answer["duration_ms"] >= answer["ttft_ms"]
    hits = app.log.search("Paris")
    assert any(h["id"] == answer["id"] for h in hits)


def test_streams_piece_by_piece(service):
    pieces = list(service.reply(Conversation(), "Count from one to five."))
    assert len(pieces) > 3


def test_cancel_keeps_what_arrived_and_marks_it(app, service):
    service.settings.options = GenerationOptions(max_tokens=200, temperature=0.0)
    conversation = Conversation()
    reply = service.reply(conversation, "Write a long story about a dragon.")
    received = []
    for piece in reply:
        received.append(piece)
        if len(received) == 5:
            reply.cancel()
    assert reply.status == "cancelled"
    row = app.log.messages(conversation.id)[-1]
    assert row["status"] == "cancelled"
    assert row["content"] == "".join(received).strip()
    assert row["completion_tokens"] == 5


def test_abandoned_stream_is_logged_as_cancelled(app, service):
    conversation = Conversation()
    stream = iter(service.reply(conversation, "Tell me about the sea."))
    next(stream)
    stream.close()  # the caller walked away (window closed)
    assert app.log.messages(conversation.id)[-1]["status"] == "cancelled"


def test_temporary_chat_logs_nothing(app, service):
    conversation = Conversation(temporary=True)
    service.reply(conversation, "Hello there").consume()
    service.reply(conversation, "And again").consume()
    assert conversation.id is None
    assert app.log.list() == []
    assert len(conversation.messages) == 4  # still remembered within the session


def test_logging_off_logs_nothing(app):
    app.settings.set("logging_enabled", "off")
    chat = app.chat()
    chat.settings.options = GREEDY
    chat.reply(Conversation(), "Hello").consume()
    assert app.store.query("SELECT * FROM messages") == []


def test_continues_a_conversation_with_its_history(app, service):
    conversation = Conversation()
    service.reply(conversation, "My favourite colour is green.").consume()
    again = app.log.load(conversation.id)
    assert again.messages[0]["content"] == "My favourite colour is green."
    service.reply(again, "What did I just tell you?").consume()
    assert len(app.log.messages(conversation.id)) == 4


def test_empty_and_invalid_messages_are_refused_before_logging(app, service):
    for bad in ["", "   \n", b"\xff\xfe bad bytes", "nul\x00char", "lone \udcff surrogate"]:
        with pytest.raises(InputError):
            service.reply(Conversation(), bad)
    assert app.store.query("SELECT * FROM messages") == []


def test_a_huge_paste_is_refused_with_the_reason_and_nothing_lost(app, service):
    conversation = Conversation()
    service.reply(conversation, "Hello").consume()
    before = app.log.messages(conversation.id)
    with pytest.raises(InputError, match="tokens, more than"):
        list(service.reply(conversation, "word " * 200_000))  # 1 MB
    assert app.log.messages(conversation.id) == before


def test_history_is_trimmed_oldest_first_to_fit(app):
    engine = app.load_engine()
    history = []
    for i in range(40):
        history += [{"role": "user", "content": f"Question {i}: " + "blah " * 30},
                    {"role": "assistant", "content": f"Answer {i}: " + "meh " * 30}]
    messages = fit_prompt(system_message([]), history, "Latest?", engine.count_tokens, 600)
    assert engine.count_tokens(messages) <= 600
    assert messages[-1]["content"] == "Latest?"
    assert messages[1]["role"] == "user"
    assert "Question 39" in messages[-3]["content"]  # the newest turns survive
    assert len(messages) < len(history)


def test_a_full_disk_gives_a_clear_error_and_keeps_the_log(app, service):
    conversation = Conversation()
    service.reply(conversation, "Hello").consume()
    pages = app.store.conn.execute("PRAGMA page_count").fetchone()[0]
    app.store.conn.execute(f"PRAGMA max_page_count={pages}")  # SQLite now reports SQLITE_FULL
    with pytest.raises(StoreError, match="full"):
        service.reply(conversation, "word " * 1500).consume()
    app.store.conn.execute("PRAGMA max_page_count=1073741823")
    rows = app.log.messages(conversation.id)
    assert [r["role"] for r in rows][:2] == ["user", "assistant"]
    assert app.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_no_network_connection_during_a_whole_chat(app, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("Nocturne tried to open a network socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    chat = app.chat()
    chat.settings.options = GREEDY
    reply = chat.reply(Conversation(), "Say hello.").consume()
    assert reply.status == "complete" and reply.text
