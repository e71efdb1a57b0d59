"""Importing chats from ChatGPT, Claude, Open WebUI and Nocturne exports (hand-written fixtures
that follow each app's published export structure)."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from app.cli.history import export_all
from app.context import Nocturne
from app.errors import InputError
from app.history_import import import_history
from tests.conftest import run_cli

EXPORTS = Path(__file__).parent / "data" / "exports"


def _conversations(app) -> list[dict]:
    return sorted(export_all(app.log), key=lambda c: c["created_at"])


def test_a_chatgpt_export_keeps_titles_dates_and_the_branch_the_user_saw(app):
    result = import_history(app, EXPORTS / "chatgpt_conversations.json")
    assert (result.source, result.conversations, result.messages) == ("chatgpt", 2, 6)
    tromso, regex = _conversations(app)
    assert tromso["title"] == "Moving to Tromsø" and tromso["source"] == "chatgpt"
    assert tromso["created_at"] == "2024-06-01T10:00:00+00:00"
    assert [m["role"] for m in tromso["messages"]] == ["user", "assistant", "user", "assistant"]
    # The regenerated answer on the abandoned branch and the hidden system message stay out.
    contents = [m["content"] for m in tromso["messages"]]
    assert "An older answer the user regenerated." not in contents
    assert contents[1] == "Warm layers, a good headlamp and vitamin D."
    assert tromso["messages"][0]["created_at"] == "2024-06-01T10:00:01+00:00"
    assert tromso["messages"][1]["model"] == "ChatGPT (imported)"
    # Tool output is not a user or assistant message.
    assert [m["role"] for m in regex["messages"]] == ["user", "assistant"]


def test_a_claude_export_imports_and_skips_empty_chats(app):
    result = import_history(app, EXPORTS / "claude_conversations.json")
    assert (result.source, result.conversations, result.empty) == ("claude", 1, 1)
    (chat,) = _conversations(app)
    assert chat["title"] == "Planning the Bergen marathon"
    assert chat["created_at"] == "2024-09-02T07:15:31+00:00"
    assert chat["messages"][0]["content"].startswith("My daughter Lumi is 7")


def test_an_open_webui_export_follows_the_current_branch(app):
    result = import_history(app, EXPORTS / "open_webui_chats.json")
    assert (result.source, result.conversations, result.messages) == ("open-webui", 1, 4)
    (chat,) = _conversations(app)
    assert chat["title"] == "Vegetarian dinner ideas"
    assert chat["messages"][-1]["content"] == "Try a lentil soup with crusty bread."
    assert chat["updated_at"] == "2024-10-01T16:27:46+00:00"


def test_a_second_import_adds_nothing(app):
    first = import_history(app, EXPORTS / "chatgpt_conversations.json")
    before = app.store.query("SELECT count(*) AS n FROM messages")[0]["n"]
    again = import_history(app, EXPORTS / "chatgpt_conversations.json")
    assert (again.conversations, again.already_imported) == (0, first.conversations)
    assert app.store.query("SELECT count(*) AS n FROM messages")[0]["n"] == before


def test_the_zip_of_a_data_export_is_read_in_place(app, tmp_path):
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(EXPORTS / "chatgpt_conversations.json", "conversations.json")
        zf.writestr("user.json", "{}")
    assert import_history(app, archive).conversations == 2


def test_what_the_user_said_about_themselves_waits_for_review(app):
    result = import_history(app, EXPORTS / "chatgpt_conversations.json")
    pending = app.store.query("SELECT text, status, source_conversation_id FROM memories")
    assert result.proposed_memories == len(pending) >= 1
    assert all(row["status"] == "pending" for row in pending)
    assert any("Tromsø" in row["text"] for row in pending)
    # The assistant's words are never taken as facts about the user.
    assert not any("headlamp" in row["text"] for row in pending)


def test_nocturne_round_trip(app, tmp_path):
    """Export a real log, import it elsewhere: the same chats; back into the origin: nothing."""
    import_history(app, EXPORTS / "claude_conversations.json")
    conversation = app.log.create("Native chat")
    app.log.add_message(conversation, "user", "I play the cello on Sundays.", status="complete")
    app.log.add_message(conversation, "assistant", "Lovely!", status="complete", model="SmolLM2")
    exported = tmp_path / "nocturne.json"
    exported.write_text(json.dumps(export_all(app.log), ensure_ascii=False))

    other = Nocturne(tmp_path / "other-home")
    try:
        result = import_history(other, exported)
        assert (result.source, result.conversations) == ("nocturne", 2)

        def shape(a):
            return [(c["title"], c["created_at"], [(m["role"], m["content"], m["created_at"])
                                                    for m in c["messages"]]) for c in _conversations(a)]
        assert shape(other) == shape(app)
        assert import_history(other, exported).conversations == 0  # a re-import
    finally:
        other.close()
    assert import_history(app, exported).conversations == 0  # back into the data folder it came from


@pytest.mark.parametrize("content, says", [
    (b'[{"mapping": {', "not valid JSON"),
    (b'{"hello": "world"}', "is not a chat export"),
    (b'[{"hello": "world"}]', "is not a chat export"),
    (b"\xff\xfe[\x00", "not"),
])
def test_a_damaged_or_unknown_file_is_refused_in_one_sentence(app, tmp_path, content, says):
    path = tmp_path / "conversations.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=says):
        import_history(app, path)
    assert app.store.query("SELECT count(*) AS n FROM conversations")[0]["n"] == 0


def test_the_cli_imports_and_refuses_without_a_traceback(nocturne_home, tmp_path):
    done = run_cli("history", "import", str(EXPORTS / "open_webui_chats.json"), home=nocturne_home)
    assert done.returncode == 0, done.stderr
    assert b"Imported 1 conversations (4 messages) from Open WebUI" in done.stdout
    listed = run_cli("history", "list", home=nocturne_home)
    assert b"(imported from Open WebUI)" in listed.stdout
    bad = tmp_path / "notes.json"
    bad.write_text('{"notes": []}')
    refused = run_cli("history", "import", str(bad), home=nocturne_home)
    assert refused.returncode != 0 and b"Traceback" not in refused.stderr
    assert b"is not a chat export" in refused.stderr
    missing = run_cli("history", "import", str(tmp_path / "nope.json"), home=nocturne_home)
    assert missing.returncode != 0 and b"Traceback" not in missing.stderr


def test_a_huge_export_streams_instead_of_loading_whole(app, tmp_path):
    """3,000 chats: memory stays far below the file's size, because one chat is read at a time."""
    path = tmp_path / "conversations.json"
    filler = "words about everyday life " * 20
    with open(path, "w") as out:
        out.write("[")
        for i in range(3000):
            item = {"uuid": f"c-{i}", "name": f"Chat {i}", "created_at": "2024-01-01T00:00:00Z",
                    "chat_messages": [{"sender": "human", "text": f"Question {i} {filler}",
                                       "created_at": "2024-01-01T00:00:00Z"},
                                      {"sender": "assistant", "text": f"Answer {i} {filler}",
                                       "created_at": "2024-01-01T00:00:01Z"}]}
            out.write(("," if i else "") + json.dumps(item))
        out.write("]")
    size = path.stat().st_size
    seen = []
    tracemalloc.start()
    try:
        result = import_history(app, path, on_progress=lambda done, total: seen.append((done, total)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.conversations == 3000
    assert peak < size / 3, (peak, size)
    assert seen[-1] == (size, size) and len(seen) > 10
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
