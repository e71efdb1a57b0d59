"""Fault injection: `nocturne learn` and `nocturne chat` killed (SIGKILL) at random moments,
and the data folder's permissions after a chat and a learning run (sharing the training cache:
the first learning run in a session costs minutes).

After each kill the store must open and pass SQLite's integrity check, everything committed
before must still be there unchanged, and the active adapter must still load. The default run
kills each process 3 times (learn within its first 30 s); the slow suite 20 times (learn
anywhere in a whole run).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.context import Nocturne
from app.runs import TrainingRuns
from ondevice.adapters import AdapterRegistry
from ondevice.training.dataset import content_sha256
from tests.conftest import REPO
from tests.fault_learn_child import FAST
from tests.learning_helpers import add_memories, write_small_lora
from tests.test_trust_cli import not_private


@pytest.fixture
def training_cache(training_cache_for_session):
    """The session's training cache (F32 copy, replay answers, yardstick), built once."""
    return training_cache_for_session


@pytest.fixture
def committed(app, training_cache, tmp_path):
    """A data folder with committed history: a chat, memories and an active adapter.

    Returns the active adapter's version and how long one full learning run takes here.
    """
    (app.home / "cache").mkdir(parents=True, exist_ok=True)
    os.symlink(training_cache, app.home / "cache" / "training")
    conversation = app.log.create("Before the crash")
    app.log.add_message(conversation, "user", "Hello, remember my cat Miso.")
    app.log.add_message(conversation, "assistant", "Nice to meet Miso!")
    ids = add_memories(app, ["My cat is called Miso", "I live in Lyon"])
    active = AdapterRegistry(app.store, app.home).promote(
        write_small_lora(tmp_path / "active.gguf"), app.model().sha256, "llamacpp", {}, {},
        {i: content_sha256(t) for i, t in zip(ids, ["My cat is called Miso", "I live in Lyon"])},
        set())
    return active.version


def rows(db_path: Path) -> dict[str, set]:
    db = sqlite3.connect(db_path)
    try:
        return {
            "messages": set(db.execute("SELECT id, conversation_id, role, content FROM messages "
                                       "WHERE status = 'complete'")),
            "memories": set(db.execute("SELECT id, text, status FROM memories")),
            "adapters": set(db.execute("SELECT version, path, base_sha256 FROM adapters")),
        }
    finally:
        db.close()


def kill_at_random(argv: list[str], home: Path, latest: float, rng: random.Random) -> float:
    """Start `argv`, SIGKILL it after a random delay up to `latest` seconds; the delay."""
    delay = rng.uniform(0.0, latest)
    child = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "NOCTURNE_HOME": str(home)},
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        child.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    return delay


def assert_survived(home: Path, before: dict[str, set], active_version: str) -> None:
    """The store opens and is whole, nothing committed is gone, the active adapter loads."""
    app = Nocturne(home)
    try:
        assert app.store.query_one("PRAGMA integrity_check")["integrity_check"] == "ok"
        after = rows(app.store.path)
        for table, kept in before.items():
            assert kept <= after[table], f"{table} lost {kept - after[table]}"
        assert TrainingRuns(app.store).last() is None or TrainingRuns(app.store).last()["status"] != "running"
        engine = app.load_engine()
        assert engine.adapter_version == active_version, app.notice
        assert app.notice is None
    finally:
        app.close()


def whole_run_seconds(app) -> float:
    """One whole learning run in a child, as the trials run it (it also warms the cache)."""
    started = time.monotonic()
    whole = subprocess.run([sys.executable, "-m", "tests.fault_learn_child"], cwd=REPO,
                           env={**os.environ, "NOCTURNE_HOME": str(app.home)},
                           capture_output=True, timeout=1800)
    assert whole.returncode == 0, whole.stderr.decode()[-2000:]
    return time.monotonic() - started


def learn_trials(app, active_version: str, trials: int, latest: float) -> None:
    """Kill the learning job `trials` times, each after up to `latest` seconds."""
    rng = random.Random(1207)
    home, path = app.home, app.store.path
    app.close()
    for trial in range(trials):
        before = rows(path)
        delay = kill_at_random([sys.executable, "-m", "tests.fault_learn_child"], home, latest, rng)
        try:
            assert_survived(home, before, active_version)
        except AssertionError as exc:
            raise AssertionError(f"trial {trial}, killed after {delay:.2f} s: {exc}") from exc


def chat_trials(app, active_version: str, trials: int) -> None:
    rng = random.Random(1208)
    home, path = app.home, app.store.path
    app.close()
    for trial in range(trials):
        before = rows(path)
        delay = kill_at_random([sys.executable, "-m", "app.cli.main", "chat", "--conversation", "1",
                                "Tell me about cats, at length."], home, 6.0, rng)
        try:
            assert_survived(home, before, active_version)
        except AssertionError as exc:
            raise AssertionError(f"trial {trial}, killed after {delay:.2f} s: {exc}") from exc


@pytest.mark.timeout(1800)  # the session's first learning run fills the training cache
def test_everything_in_the_data_folder_is_owner_only_after_a_chat_and_a_learning_run(app, committed,
                                                                                      training_cache):
    from app.conversations import Conversation
    from app.learning_job import run_learning_job

    app.chat().reply(Conversation(), "Hello!").consume()
    report = run_learning_job(app, options=FAST)
    assert report.status in ("rejected", "succeeded")
    assert (app.home / "cache" / "model-hashes.json").exists()
    assert any((app.home / "adapters").iterdir()) and any(training_cache.iterdir())
    # The training cache is shared by symlink between tests: its files were made by the job.
    assert not_private(app.home) == [] and not_private(training_cache) == []


def test_learn_killed_at_random_3_times(app, committed):
    # Start-up, the training set, replay and the cache copies: the first 30 s of a run.
    learn_trials(app, committed, 3, latest=30.0)


def test_chat_killed_at_random_3_times(app, committed):
    chat_trials(app, committed, 3)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_learn_killed_at_random_20_times(app, committed):
    # Anywhere in a whole run: training, evaluation and the gate too.
    learn_trials(app, committed, 20, latest=whole_run_seconds(app))


@pytest.mark.slow
def test_chat_killed_at_random_20_times(app, committed):
    chat_trials(app, committed, 20)
