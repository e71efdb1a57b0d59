"""Issue #12, found by a hostile user: each defect of the CLI and the store, as they found it.

Fast checks run `nocturne` in this process through `main()`; those about processes (signals,
two windows, a reader holding the database) run the real command in child processes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli.main import main
from app.errors import InputError
from app.text_input import clean_user_text
from tests.conftest import REPO, run_cli
from tests.learning_helpers import write_small_lora


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """`nocturne ARGS` in this process: exit code, stdout, stderr."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_sentence(text: str) -> bool:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return len(lines) == 1 and "Traceback" not in text


# -- 5. tracebacks instead of one sentence ------------------------------------------------------


@pytest.fixture
def bad_models(tmp_path, model_path) -> dict[str, Path]:
    """Files a user might point --model or the setting at, none of them a usable model."""
    head = model_path.read_bytes()[: 4 << 20]
    files = {
        "truncated": head,  # the header is whole, the weights are cut off
        "magic only": b"GGUF",
        # Tensor and key counts overwritten with nonsense.
        "corrupted header": head[:8] + b"\xff" * 16 + head[24:4096],
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name.replace(' ', '-')}.gguf"
        paths[name].write_bytes(data)
    paths["lora adapter"] = write_small_lora(tmp_path / "adapter.gguf")
    return paths


def test_a_bad_model_file_is_one_sentence_not_a_traceback(nocturne_home, bad_models):
    for name, path in bad_models.items():
        result = run_cli("chat", "--model", str(path), "hi", home=nocturne_home, timeout=120)
        message = result.stderr.decode()
        assert result.returncode == 1, f"{name}: {message}"
        assert one_sentence(message), f"{name}: {message}"
        assert "cannot be used as the model" in message, f"{name}: {message}"
    assert "LoRA adapter" in run_cli("chat", "--model", str(bad_models["lora adapter"]), "hi",
                                     home=nocturne_home).stderr.decode()


def test_the_model_path_setting_takes_only_a_usable_model(app, bad_models, model_path, tmp_path):
    for name, path in {**bad_models, "missing": tmp_path / "nope.gguf", "folder": tmp_path}.items():
        with pytest.raises(InputError, match="is not a valid model_path"):
            app.settings.set("model_path", str(path))
        assert app.settings.get("model_path") is None, name
    assert app.settings.set("model_path", str(model_path)) == str(model_path.absolute())
    assert app.settings.set("model_path", "") is None


def test_an_engine_error_is_one_sentence(nocturne_home, capsys, monkeypatch):
    """A model that passes the header check but that llama.cpp refuses (EngineError is not a
    NocturneError): the CLI still prints one sentence."""
    from ondevice.engine import EngineError
    from ondevice.llama_engine import LlamaEngine

    def refuse(self):
        raise EngineError("llama.cpp could not load the model: choose another GGUF model file.")

    monkeypatch.setattr(LlamaEngine, "load", refuse)
    code, _, err = cli(capsys, "chat", "hi")
    assert code == 1 and one_sentence(err) and "could not load" in err


ID_COMMANDS = [
    ["history", "show", "{id}"],
    ["history", "delete", "{id}"],
    ["memories", "edit", "{id}", "new text"],
    ["memories", "approve", "{id}"],
    ["memories", "reject", "{id}"],
    ["memories", "delete", "{id}"],
    ["chat", "--conversation", "{id}", "hi"],
]


@pytest.mark.parametrize("bad_id", ["0", "-1", str(2**63), str(2**100)])
def test_an_id_that_cannot_exist_is_not_found(app, capsys, bad_id):
    """0 used to start a new chat silently, 2^63 and up raised OverflowError."""
    for command in ID_COMMANDS:
        args = [part.format(id=bad_id) for part in command]
        code, out, err = cli(capsys, *args)
        assert code == 1, f"{args}: {out} {err}"
        assert one_sentence(err) and "There is no" in err, f"{args}: {err}"
    assert app.log.list() == []  # `chat --conversation 0` started nothing


# -- 8. SIGTERM and SIGHUP keep the partial answer ------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_log_what_arrived_as_cancelled(nocturne_home, signum):
    child = subprocess.Popen(
        [sys.executable, "-m", "app.cli.main", "chat",
         "Tell me a long story about a dragon who learns to bake bread, in many chapters."],
        cwd=REPO, env={**os.environ, "NOCTURNE_HOME": str(nocturne_home)},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        first = child.stdout.read1(64)  # the answer has started streaming
        assert first, child.stderr.read().decode()
        child.send_signal(signum)
        rest, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 128 + signum, err.decode()
    assert b"Traceback" not in err
    db = sqlite3.connect(nocturne_home / "nocturne.db")
    rows = db.execute("SELECT role, content, status FROM messages ORDER BY id").fetchall()
    db.close()
    assert [r[0] for r in rows] == ["user", "assistant"]
    role, content, status = rows[1]
    assert status == "cancelled"
    printed = (first + rest).decode("utf-8", errors="replace").strip()
    assert content and printed.startswith(content[:20]) and len(content) >= len(first.strip()) // 2


# -- 10. smaller defects ----------------------------------------------------------------------


def test_a_damaged_database_points_only_at_a_backup_that_exists(nocturne_home, capsys):
    nocturne_home.mkdir(parents=True)
    (nocturne_home / "nocturne.db").write_bytes(b"this is not a database " * 200)
    code, _, err = cli(capsys, "history", "list")
    assert code == 1 and one_sentence(err) and "damaged" in err
    assert "backups" not in err and "no backup copy" in err

    copy = nocturne_home / "backups" / "nocturne-20260101-030000-before-v3.db"
    copy.parent.mkdir()
    copy.write_bytes(b"")
    code, _, err = cli(capsys, "history", "list")
    assert code == 1 and str(copy) in err


def not_private(home: Path) -> list[str]:
    """Everything under `home` (symlinks aside) that is not owner-only."""
    wrong = []
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                continue
            wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
            if stat.S_IMODE(info.st_mode) != wanted:
                wrong.append(f"{path.relative_to(home)} {oct(stat.S_IMODE(info.st_mode))}")
    return wrong


def test_files_an_older_version_left_readable_are_made_private_at_open(nocturne_home):
    from app.store import Store

    Store(nocturne_home).close()
    old_dir = nocturne_home / "cache"
    old_dir.mkdir(mode=0o755)
    old_dir.chmod(0o755)
    old_file = old_dir / "model-hashes.json"
    old_file.write_text("{}")
    old_file.chmod(0o644)
    Store(nocturne_home).close()
    assert not_private(nocturne_home) == []


def test_control_characters_are_stripped_on_input_and_escaped_on_output(app, capsys):
    assert clean_user_text("a\x1b[31mb\x07\r\nc\x9b\td\x7f") == "a[31mb\nc\td"
    with pytest.raises(InputError, match="empty"):
        clean_user_text("\x1b\x07 \x08")
    code, _, _ = cli(capsys, "memories", "add", "My cat is \x1b[31mred\x1b[0m")
    assert code == 0
    assert [m["text"] for m in app.memories().list()] == ["My cat is [31mred[0m"]

    # Text logged before this version may hold them: printing must not obey them.
    conversation = app.log.create("title\x1b]0;pwned\x07")
    app.log.add_message(conversation, "user", "clear\x1b[2Jscreen")
    for args in (["history", "show", str(conversation)], ["history", "list"]):
        code, out, _ = cli(capsys, *args)
        assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "clear\\x1b[2Jscreen" in cli(capsys, "history", "show", str(conversation))[1]


def test_two_processes_continuing_one_conversation_take_turns(app, nocturne_home):
    conversation = app.log.create("Hello")
    app.log.add_message(conversation, "user", "Hello")
    app.log.add_message(conversation, "assistant", "Hi! How can I help?")
    env = {**os.environ, "NOCTURNE_HOME": str(nocturne_home)}
    children = [
        subprocess.Popen([sys.executable, "-m", "app.cli.main", "chat", "--conversation",
                          str(conversation), question], cwd=REPO, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for question in ("What is the capital of France?", "Name three colours.")
    ]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err.decode()
    rows = app.log.messages(conversation)
    assert [m["role"] for m in rows] == ["user", "assistant"] * 3
    assert {rows[2]["content"], rows[4]["content"]} == {"What is the capital of France?",
                                                       "Name three colours."}


def test_a_delete_while_another_reader_holds_the_database_says_so_truthfully(app, nocturne_home):
    conversation = app.log.create("secret")
    app.log.add_message(conversation, "user", "My locker code is Zanzibarquux")
    db_files = lambda: b"".join(p.read_bytes() for p in nocturne_home.glob("nocturne.db*"))  # noqa: E731
    reader = sqlite3.connect(nocturne_home / "nocturne.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT content FROM messages").fetchall()  # an older snapshot, held open
    try:
        result = run_cli("history", "delete", str(conversation), home=nocturne_home)
        assert result.returncode == 0, result.stderr.decode()
        said = result.stdout.decode()
        assert "for good" not in said and "when it closes" in said
        assert b"Zanzibarquux" in db_files()  # which is why it must not say "for good"
    finally:
        reader.execute("COMMIT")
        reader.close()
    app.close()
    assert b"Zanzibarquux" not in db_files()
    again = run_cli("history", "list", home=nocturne_home)
    assert again.returncode == 0

    from app.context import Nocturne

    app2 = Nocturne(nocturne_home)
    try:
        second = app2.log.create("other")
        app2.log.add_message(second, "user", "nothing reads this")
    finally:
        app2.close()
    alone = run_cli("history", "delete", str(second), home=nocturne_home)
    assert f"Deleted conversation {second} for good." in alone.stdout.decode()


def test_the_adapter_notice_is_two_sentences(app, tmp_path):
    import re

    import numpy as np

    from app.context import Nocturne
    from ondevice.adapters import AdapterRegistry
    from ondevice.training.gguf_lora import write_lora_gguf

    # A LoRA for a tensor the base model does not have: it cannot be applied.
    misfit = write_lora_gguf(tmp_path / "misfit.gguf", "llama", 4.0, {
        "blk.99.attn_q.weight": (np.zeros((4, 576)), np.zeros((576, 4)))})
    AdapterRegistry(app.store, app.home).promote(misfit, app.model().sha256, "llamacpp", {}, {}, {}, set())
    again = Nocturne(app.home)
    try:
        again.load_engine()
        assert re.fullmatch(r"[A-Z][^\n]*[^.]\. Running on the base model\.", again.notice), again.notice
    finally:
        again.close()


def test_memories_search_without_a_match_says_so(app, capsys):
    assert "No memories yet" in cli(capsys, "memories", "list")[1]
    cli(capsys, "memories", "add", "I live in Lyon")
    code, out, _ = cli(capsys, "memories", "list", "--search", "Zanzibar")
    assert code == 0 and "No memory matches" in out


# -- the run lock: cross-platform, and a dead holder never blocks ------------------------------

HOLDER = """
import sys, time
from scheduler.lock import RunLock
lock = RunLock(sys.argv[1])
assert lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_the_run_lock_is_filelock_and_a_killed_holder_frees_it(tmp_path):
    from scheduler.lock import RunLock
    from tests.test_house_rules import imported_modules

    assert "fcntl" not in imported_modules(REPO / "scheduler" / "lock.py")  # no Windows otherwise
    path = tmp_path / "learning.lock"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"held\n", child.stderr.read().decode()
        lock = RunLock(path)
        assert lock.acquire() is False and lock.holder() == child.pid
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    deadline = time.monotonic() + 10
    while not lock.acquire():
        assert time.monotonic() < deadline, "the dead holder still blocks the lock"
        time.sleep(0.05)
    try:
        assert RunLock(path).holder() == os.getpid()
    finally:
        lock.release()
    assert RunLock(path).holder() is None
