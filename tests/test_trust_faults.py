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
import threading
import time
from dataclasses import dataclass
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
    """Everything committed that a kill must not lose (a reader sees only committed rows)."""
    db = sqlite3.connect(db_path)
    try:
        return {
            "messages": set(db.execute("SELECT id, conversation_id, role, content FROM messages")),
            "memories": set(db.execute("SELECT id, text, status FROM memories")),
            "adapters": set(db.execute("SELECT version, path, base_sha256 FROM adapters")),
            "runs": set(db.execute("SELECT id, started_at FROM training_runs")),
        }
    finally:
        db.close()


START_UP = "start-up"


class Watched:
    """A child process whose output says which stage it is in.

    With `marks` true, output lines `stage NAME` mark stages (the learning child); otherwise the
    first output byte starts the stage `answering` (a chat). `segments` lists each stage entered,
    in order, with when it began (seconds after the start).
    """

    def __init__(self, argv: list[str], home: Path, marks: bool):
        self.marks = marks
        self.started = time.monotonic()
        self.segments: list[tuple[str, float]] = [(START_UP, 0.0)]
        self.changed = threading.Condition()
        self.child = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "NOCTURNE_HOME": str(home)},
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        pending = b""
        while chunk := self.child.stdout.read1(4096):
            pending += chunk
            if not self.marks:
                self._enter("answering")
                continue
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.startswith(b"stage "):
                    self._enter(line[6:].decode())
        with self.changed:
            self.changed.notify_all()

    def _enter(self, stage: str) -> None:
        with self.changed:
            if self.segments[-1][0] != stage:
                self.segments.append((stage, time.monotonic() - self.started))
                self.changed.notify_all()

    def wait_for_segment(self, index: int, timeout: float) -> bool:
        """Wait until the `index`-th stage began (False: the child exited first)."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.segments) > index or self.child.poll() is not None,
                                         timeout) and len(self.segments) > index

    def finish(self, timeout: float) -> float:
        """Wait for a normal exit; the run's length."""
        self.child.wait(timeout)
        self.reader.join(10)
        return time.monotonic() - self.started


def reference_segments(argv: list[str], home: Path, marks: bool) -> list[tuple[str, float, float]]:
    """One run to its end: (stage, began, ended) for each stage it went through."""
    run = Watched(argv, home, marks)
    length = run.finish(timeout=1800)
    assert run.child.returncode == 0, f"the reference run failed with exit code {run.child.returncode}"
    ends = [began for _, began in run.segments[1:]] + [length]
    return [(stage, began, end) for (stage, began), end in zip(run.segments, ends)]


@dataclass
class Trial:
    aimed_at: str  # the stage the kill was meant for
    killed_in: str | None  # the stage it was in at the kill (None: it finished first)
    seconds: float  # the trial's wall time, the checks included


def kill_in_a_random_stage(argv: list[str], home: Path, marks: bool, reference, rng: random.Random,
                           active_version: str) -> Trial:
    """Pick a stage of the reference run, then a moment inside it; SIGKILL the child there.

    Stages are picked uniformly, not by length: a kill drawn uniformly over the run's seconds
    lands in the longest stage nearly every time. Then checks what survived the kill.
    """
    started = time.monotonic()
    index = rng.randrange(len(reference))
    stage, began, ended = reference[index]
    offset = rng.uniform(0.0, ended - began)
    run = Watched(argv, home, marks)
    if run.wait_for_segment(index, timeout=1800):
        before, killed_in = kill_after(run, offset, home)
    else:
        before, killed_in = kill_after(run, 0.0, home)  # it ended first: nothing to kill
    try:
        assert_survived(home, before, active_version)
    except AssertionError as exc:
        raise AssertionError(f"killed in {killed_in} (aimed {offset:.1f} s into {stage}): {exc}") from exc
    return Trial(stage, killed_in, time.monotonic() - started)


def kill_after(run: Watched, delay: float, home: Path) -> tuple[dict[str, set], str | None]:
    """SIGKILL `run` after `delay` s unless it ends first; what was committed by then, and the
    stage it was killed in (None: it ended by itself, and all it committed counts)."""
    killed_in = None
    try:
        run.child.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        before = rows(home / "nocturne.db")  # every commit up to the kill (later ones only add)
        killed_in = run.segments[-1][0]
        os.kill(run.child.pid, signal.SIGKILL)
    run.finish(timeout=1800)
    return (before if killed_in else rows(home / "nocturne.db")), killed_in


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


def staged_trials(app, active_version: str, argv: list[str], marks: bool, trials: int) -> list[Trial]:
    """Kill `argv` `trials` times, each in a random stage of a reference run; print the timings."""
    home = app.home
    app.close()
    reference = reference_segments(argv, home, marks)
    print(f"\nreference run: {reference[-1][2]:.1f} s, stages " +
          ", ".join(f"{stage} {end - began:.1f} s" for stage, began, end in reference), flush=True)
    rng = random.Random(1207)
    results = []
    for number in range(trials):  # printed as they go: a slow machine may stop the suite early
        try:
            trial = kill_in_a_random_stage(argv, home, marks, reference, rng, active_version)
        except AssertionError as exc:
            raise AssertionError(f"trial {number}: {exc}") from exc
        results.append(trial)
        print(f"trial {number:2d}: aimed at {trial.aimed_at:10s} killed in {trial.killed_in or '(finished)':10s} "
              f"{trial.seconds:6.1f} s", flush=True)
    print(f"total {sum(t.seconds for t in results):.1f} s for {trials} trials")
    return results


LEARN = [sys.executable, "-m", "tests.fault_learn_child"]
CHAT = [sys.executable, "-m", "app.cli.main", "chat", "--conversation", "1", "Tell me about cats, at length."]


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
    home = app.home
    app.close()
    rng = random.Random(1207)
    for number in range(3):
        run = Watched(LEARN, home, marks=True)
        before, killed_in = kill_after(run, rng.uniform(0.0, 30.0), home)
        try:
            assert_survived(home, before, committed)
        except AssertionError as exc:
            raise AssertionError(f"trial {number}, killed in {killed_in}: {exc}") from exc


def test_chat_killed_at_random_3_times(app, committed):
    trials = staged_trials(app, committed, CHAT, marks=False, trials=3)
    # On an idle machine an answer can end before a kill aimed late in it (the offsets come
    # from the reference run): that trial still checks what survived, but one must be a kill.
    assert any(t.killed_in for t in trials), trials


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_learn_killed_at_random_20_times(app, committed):
    # The real llama.cpp trainer on a tiny budget; every stage is as likely to be hit.
    trials = staged_trials(app, committed, LEARN + ["--real"], marks=True, trials=20)
    assert {"prepare", "train", "evaluate"} <= {t.killed_in for t in trials}, trials


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_chat_killed_at_random_20_times(app, committed):
    trials = staged_trials(app, committed, CHAT, marks=False, trials=20)
    assert {START_UP, "answering"} <= {t.killed_in for t in trials}, trials
