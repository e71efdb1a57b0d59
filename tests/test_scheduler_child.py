"""The learning child: the run lock refuses a second run, SIGTERM cancels cleanly, kill -9 leaves a
run that the next start records as interrupted, with the lock free again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from scheduler.child import LOG_FILE, LearnLauncher, RunBusyError, run_lock
from scheduler.nightly import NightlyScheduler, recover_interrupted
from tests.test_scheduler_nightly import FakeLearnLauncher, ManualClock, future_day, runs


def wait_for(condition, timeout: float = 20.0) -> bool:
    """Poll `condition` (the child needs a moment to start up); True once it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def holding(app, tmp_path):
    """A launcher whose child takes the lock, records a run and holds until told to stop."""
    launcher = FakeLearnLauncher(app.home, ManualClock(future_day(1)), tmp_path, mode="hold")
    yield launcher
    if launcher.own_child_alive():
        launcher.kill()


def started(app) -> bool:
    return any(r["status"] == "running" for r in runs(app))


def test_the_real_launcher_builds_the_learn_command_with_the_home_and_blas(app):
    launcher = LearnLauncher(app.home)
    assert launcher.command(True) == [sys.executable, "-m", "app.cli.main", "learn", "--scheduled"]
    assert launcher.command(False)[-1] == "learn"
    assert launcher.command(True, catch_up=True)[-2:] == ["learn", "--catch-up"]
    env = launcher.environment()
    assert env["NOCTURNE_HOME"] == str(app.home)
    from ondevice.training.blas import blas_env

    for key, value in blas_env().items():
        assert env[key] == value


def test_a_second_concurrent_run_is_refused_by_the_lock(app, holding):
    child = holding.launch(scheduled=True)
    assert wait_for(lambda: started(app))
    assert holding.is_running() and holding.running_pid() == child.pid
    assert run_lock(app.home).holder() == child.pid

    with pytest.raises(RunBusyError, match=f"pid {child.pid}"):
        holding.launch(scheduled=True)
    # Another process (e.g. the OS agent's run) trying on its own is refused by the lock too.
    rival = subprocess.run(
        [sys.executable, str(holding.script)], capture_output=True, text=True, timeout=60,
        env={**holding.environment(), "MODE": "quick"},
    )
    assert rival.returncode == 3 and "holds the lock" in rival.stdout
    # A fresh launcher (the app restarted while the run goes on) sees it through the lock.
    assert LearnLauncher(app.home).running_pid() == child.pid
    assert len(runs(app)) == 1

    assert holding.cancel() is True
    assert holding.wait(30) == 0
    assert [r["status"] for r in runs(app)] == ["cancelled"]
    assert run_lock(app.home).holder() is None
    assert "run 1 started" in (app.home / "logs" / LOG_FILE).read_text()


def test_scheduler_cancels_the_run_with_sigterm(app, holding, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    scheduler = NightlyScheduler(app, launcher=holding, clock=holding.clock)
    child = scheduler.run_now()
    assert holding.launched[-1][-1].endswith("fake_learn.py")  # Learn now: no --scheduled
    assert wait_for(lambda: started(app))
    assert scheduler.is_running()
    assert scheduler.cancel_run() is True
    assert child.wait(30) == 0
    assert not scheduler.is_running()
    assert runs(app)[0]["trigger"] == "manual" and runs(app)[0]["status"] == "cancelled"
    assert scheduler.cancel_run() is False


def test_kill_minus_9_leaves_an_interrupted_run_and_a_free_lock(app, holding):
    child = holding.launch(scheduled=True)
    assert wait_for(lambda: started(app))
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30)

    assert run_lock(app.home).holder() is None  # the kernel dropped the flock
    assert LearnLauncher(app.home).is_running() is False
    assert runs(app)[0]["status"] == "running" and runs(app)[0]["pid"] == child.pid
    pytest.importorskip("app.runs", reason="app/runs.py (learning issue) is not there yet")
    recover_interrupted(app)
    assert runs(app)[0]["status"] == "interrupted"


def test_the_real_learn_child_killed_with_sigkill_is_recorded_interrupted(app):
    pytest.importorskip("app.cli.learn", reason="`nocturne learn` (learning issue) is not there yet")
    from ondevice.adapters import AdapterRegistry

    sha = app.model().sha256
    active_before = AdapterRegistry(app.store, app.home).loadable(sha)
    with app.store.transaction() as db:  # something to learn, so the job gets past its checks
        db["memories"].insert({"text": "My cat is called Miso", "kind": "fact", "status": "approved",
                               "created_at": "2026-01-01T00:00:00+00:00"})
    launcher = LearnLauncher(app.home)
    child = launcher.launch(scheduled=False)
    try:
        assert wait_for(lambda: any(r["pid"] == child.pid for r in runs(app)), timeout=120), \
            (app.home / "logs" / LOG_FILE).read_text()
        assert run_lock(app.home).holder() == child.pid
    finally:
        os.kill(child.pid, signal.SIGKILL)  # during start-up: no real training happens
        child.wait(30)

    assert run_lock(app.home).holder() is None
    recover_interrupted(app)
    assert [r["status"] for r in runs(app)] == ["interrupted"]
    after = AdapterRegistry(app.store, app.home).loadable(sha)
    assert (after and after.version) == (active_before and active_before.version)
