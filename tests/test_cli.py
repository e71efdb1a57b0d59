"""The `nocturne` command as a user runs it: real child processes, real model, real files."""

from __future__ import annotations

import json
import sqlite3

from tests.conftest import run_cli


def out(result) -> str:
    return result.stdout.decode("utf-8", errors="replace")


def err(result) -> str:
    return result.stderr.decode("utf-8", errors="replace")


def test_chat_answers_paris_and_history_finds_it(nocturne_home):
    result = run_cli("chat", "What is the capital of France?", home=nocturne_home)
    assert result.returncode == 0, err(result)
    assert "paris" in out(result).lower()
    assert "(conversation 1)" in err(result)

    found = run_cli("history", "search", "Paris", home=nocturne_home)
    assert found.returncode == 0, err(found)
    text = out(found)
    assert "conversation 1" in text
    assert "model SmolLM2-135M-Instruct.Q4_1" in text
    assert "tok/s" in text and "first token" in text

    listed = run_cli("history", "list", home=nocturne_home)
    assert "What is the capital of France?" in out(listed)
    shown = run_cli("history", "show", "1", home=nocturne_home)
    assert "assistant" in out(shown) and "base model" in out(shown)


def test_continue_interactive_and_temporary(nocturne_home):
    first = run_cli("chat", "Hello!", home=nocturne_home)
    assert first.returncode == 0, err(first)
    session = run_cli("chat", "--conversation", "1", home=nocturne_home,
                      stdin=b"How are you?\nWhat is two plus two?\n")
    assert session.returncode == 0, err(session)
    db = sqlite3.connect(nocturne_home / "nocturne.db")
    assert db.execute("SELECT count(*) FROM messages WHERE conversation_id=1").fetchone()[0] == 6
    temp = run_cli("chat", "--temporary", "Secret thought", home=nocturne_home)
    assert temp.returncode == 0, err(temp)
    assert db.execute("SELECT count(*) FROM messages WHERE content LIKE '%Secret%'").fetchone()[0] == 0
    db.close()


def test_export_and_delete(nocturne_home, tmp_path):
    assert run_cli("chat", "Hello!", home=nocturne_home).returncode == 0
    target = tmp_path / "export.json"
    exported = run_cli("history", "export", "--out", str(target), home=nocturne_home)
    assert exported.returncode == 0, err(exported)
    data = json.loads(target.read_text())
    assert data[0]["messages"][0]["content"] == "Hello!"
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    markdown = run_cli("history", "export", "--format", "md", home=nocturne_home)
    assert "**You**" in out(markdown) and "Hello!" in out(markdown)

    deleted = run_cli("history", "delete", "1", home=nocturne_home)
    assert deleted.returncode == 0
    assert "No conversations yet" in out(run_cli("history", "list", home=nocturne_home))
    missing = run_cli("history", "show", "1", home=nocturne_home)
    assert missing.returncode == 1 and "no conversation 1" in err(missing)


def test_bad_input_gets_one_clear_sentence_and_a_nonzero_exit(nocturne_home, tmp_path):
    assert run_cli("chat", "Keep me", home=nocturne_home).returncode == 0

    cases = {
        "missing model": (["chat", "--model", str(tmp_path / "nope.gguf"), "hi"], None, "does not exist"),
        "empty message": (["chat", "   "], None, "empty"),
        "invalid utf-8": (["chat", "-"], b"caf\xe9 \xff", "not valid UTF-8"),
        "huge message": (["chat", "-"], b"word " * 200_000, "tokens, more than"),
    }
    not_gguf = tmp_path / "fake.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 definitely a zip")
    cases["not gguf"] = (["chat", "--model", str(not_gguf), "hi"], None, "not a GGUF model file")
    for name, (args, stdin, expected) in cases.items():
        result = run_cli(*args, home=nocturne_home, stdin=stdin)
        assert result.returncode != 0, name
        message = err(result).strip()
        assert expected in message, f"{name}: {message}"
        assert "Traceback" not in message, name

    db = sqlite3.connect(nocturne_home / "nocturne.db")
    contents = [r[0] for r in db.execute("SELECT content FROM messages ORDER BY id")]
    assert contents[0] == "Keep me" and len(contents) == 2  # nothing lost, nothing added
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_locked_database_is_reported(nocturne_home):
    assert run_cli("history", "list", home=nocturne_home).returncode == 0
    holder = sqlite3.connect(nocturne_home / "nocturne.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run_cli("chat", "hi", home=nocturne_home, timeout=120)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1
    assert "locked by another program" in err(result)


def test_settings_command(nocturne_home):
    changed = run_cli("settings", "set", "learning_time", "04:15", home=nocturne_home)
    assert changed.returncode == 0, err(changed)
    shown = run_cli("settings", home=nocturne_home)
    assert '"04:15"' in out(shown)
    bad = run_cli("settings", "set", "context_size", "12", home=nocturne_home)
    assert bad.returncode == 1 and "not a valid context_size" in err(bad)
