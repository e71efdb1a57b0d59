"""The nightly trigger with a controllable clock: fires at the set time, off removes it, a missed
night is caught up exactly once, a busy user or a battery postpones it.

The child is a tiny real script with the learn command's contract (takes the run lock, records a
training run, honours SIGTERM), launched by a real subclass of LearnLauncher.
"""

from __future__ import annotations

import sys
from collections import namedtuple
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.child import LearnLauncher
from scheduler.gate import should_run_now
from scheduler.nightly import NIGHT_JOB, Clock, NightlyScheduler, last_fire_time, next_fire_time
from tests.conftest import REPO

PARIS = ZoneInfo("Europe/Paris")
# The shape of psutil.sensors_battery()'s answer (its class moves between psutil versions).
Battery = namedtuple("sbattery", ["percent", "secsleft", "power_plugged"])

# Same contract as `nocturne learn`: the run lock, a training_runs row, SIGTERM -> 'cancelled'.
# FAKE_NOW stamps the row with the test clock's time; MODE=hold keeps it running until signalled.
FAKE_LEARN = r'''
import os, signal, sqlite3, sys, time
from pathlib import Path
from scheduler.lock import RunLock

home = Path(os.environ["NOCTURNE_HOME"])
lock = RunLock(home / "learning.lock")
if not lock.acquire():
    print("another run holds the lock", flush=True)
    sys.exit(3)
db = sqlite3.connect(home / "nocturne.db", isolation_level=None, timeout=10)
trigger = ("catch-up" if "--catch-up" in sys.argv else
           "scheduled" if "--scheduled" in sys.argv else "manual")
run = db.execute(
    "INSERT INTO training_runs (trigger, started_at, status, pid) VALUES (?, ?, 'running', ?)",
    (trigger, os.environ["FAKE_NOW"], os.getpid()),
).lastrowid
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
print(f"run {run} started", flush=True)
if os.environ.get("MODE") == "hold":
    while not stop:
        time.sleep(0.02)
status = "cancelled" if stop else "succeeded"
db.execute("UPDATE training_runs SET status=?, ended_at=? WHERE id=?", (status, os.environ["FAKE_NOW"], run))
lock.release()
'''


class ManualClock(Clock):
    """A clock the test sets; the scheduler's own loop stays paused and `_tick` drives it."""

    realtime = False

    def __init__(self, start: datetime):
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    @property
    def tz(self):
        return self.moment.tzinfo

    def set(self, moment: datetime) -> datetime:
        self.moment = moment
        return moment


class FakeLearnLauncher(LearnLauncher):
    """Launches FAKE_LEARN instead of `nocturne learn`; everything else is the real launcher."""

    def __init__(self, home: Path, clock: Clock, script_dir: Path, mode: str = "quick"):
        super().__init__(home)
        self.clock = clock
        self.mode = mode
        self.script = script_dir / "fake_learn.py"
        self.script.write_text(FAKE_LEARN)
        self.launched: list[list[str]] = []

    def command(self, scheduled: bool, catch_up: bool = False) -> list[str]:
        flags = ["--catch-up"] if catch_up else ["--scheduled"] if scheduled else []
        argv = [sys.executable, str(self.script)] + flags
        self.launched.append(argv)
        return argv

    def environment(self) -> dict[str, str]:
        stamp = self.clock.now().astimezone(timezone.utc).isoformat(timespec="seconds")
        return {**super().environment(), "FAKE_NOW": stamp, "MODE": self.mode, "PYTHONPATH": str(REPO)}


def future_day(days: int) -> datetime:
    """Noon in Paris `days` from today: after the data folder was created, so nights are owed."""
    today = datetime.now(PARIS).date() + timedelta(days=days)
    return datetime(today.year, today.month, today.day, 12, 0, tzinfo=PARIS)


def record_run(app, started: datetime, status: str = "succeeded") -> None:
    with app.store.transaction() as db:
        db["training_runs"].insert({
            "trigger": "scheduled", "status": status,
            "started_at": started.astimezone(timezone.utc).isoformat(timespec="seconds"),
        })


def runs(app) -> list[dict]:
    return app.store.query("SELECT * FROM training_runs ORDER BY id")


def chat_at(app, moment: datetime) -> None:
    conversation = app.log.create("busy")
    app.log.add_message(conversation, "user", "hello",
                        created_at=moment.astimezone(timezone.utc).isoformat(timespec="seconds"))


@pytest.fixture
def night(app, tmp_path, monkeypatch):
    """A scheduler on a manual clock at noon, five days ahead, with that night already done."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no agent installed
    clock = ManualClock(future_day(5))
    record_run(app, clock.now().replace(hour=4))
    launcher = FakeLearnLauncher(app.home, clock, tmp_path)
    scheduler = NightlyScheduler(app, launcher=launcher, clock=clock)
    scheduler.start()
    yield scheduler, clock, launcher
    scheduler.shutdown()
    if launcher.own_child_alive():
        launcher.kill()


def test_cron_math_in_local_time():
    now = datetime(2026, 3, 28, 12, 0, tzinfo=PARIS)
    assert next_fire_time("03:00", now) == datetime(2026, 3, 29, 3, 0, tzinfo=PARIS)
    assert last_fire_time("03:00", now) == datetime(2026, 3, 28, 3, 0, tzinfo=PARIS)
    at_three = datetime(2026, 3, 28, 3, 0, tzinfo=PARIS)
    assert last_fire_time("03:00", at_three) == at_three
    assert last_fire_time("03:00", at_three - timedelta(seconds=1)).day == 27


def test_the_job_fires_at_the_set_time_once(night, app):
    scheduler, clock, launcher = night
    start = clock.now()
    tonight = (start + timedelta(days=1)).replace(hour=3, minute=0)
    assert launcher.launched == []  # the night was already done at start-up
    assert scheduler.next_run_time() == tonight

    assert scheduler._tick(clock.set(tonight - timedelta(minutes=1))) == 0
    assert launcher.launched == []

    assert scheduler._tick(clock.set(tonight)) == 1
    assert launcher.launched == [[sys.executable, str(launcher.script), "--scheduled"]]
    assert launcher.wait(30) == 0
    assert [r["status"] for r in runs(app)] == ["succeeded", "succeeded"]

    # The follow-up check finds the night done; the next fire is tomorrow.
    clock.set(tonight + timedelta(minutes=15))
    scheduler._tick(clock.now())
    assert len(launcher.launched) == 1
    assert scheduler.next_run_time() == tonight + timedelta(days=1)


def test_off_removes_the_job_on_adds_it_back_and_time_reschedules(night, app):
    scheduler, clock, launcher = night
    app.settings.set("learning_enabled", False)
    scheduler.apply_settings()
    assert scheduler.next_run_time() is None
    assert scheduler._scheduler.get_job(NIGHT_JOB) is None
    scheduler._tick(clock.set(clock.now() + timedelta(days=1)))  # past 03:00: nothing happens
    assert launcher.launched == []

    app.settings.set("learning_enabled", True)
    app.settings.set("learning_time", "04:30")
    scheduler.apply_settings()
    assert scheduler.next_run_time() == (clock.now() + timedelta(days=1)).replace(hour=4, minute=30)

    # A new scheduler (app restart) reads the same settings from the store.
    again = NightlyScheduler(app, launcher=launcher, clock=clock)
    again.start()
    try:
        assert again._scheduler.get_job(NIGHT_JOB).next_run_time.strftime("%H:%M") == "04:30"
    finally:
        again.shutdown()
        launcher.wait(30)


def test_a_missed_stretch_is_caught_up_exactly_once(app, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    clock = ManualClock(future_day(6))
    record_run(app, clock.now() - timedelta(days=3))  # then the app stayed closed for 3 nights
    launcher = FakeLearnLauncher(app.home, clock, tmp_path)
    scheduler = NightlyScheduler(app, launcher=launcher, clock=clock)
    scheduler.start()  # catches up at start-up
    try:
        assert len(launcher.launched) == 1 and launcher.launched[0][-1] == "--catch-up"
        assert launcher.wait(30) == 0
        assert scheduler.catch_up_if_missed() is False
        for minutes in (15, 30, 60, 240):  # later checks, retries: nothing more
            scheduler._tick(clock.set(clock.now() + timedelta(minutes=minutes)))
        assert len(launcher.launched) == 1
    finally:
        scheduler.shutdown()

    restarted = NightlyScheduler(app, launcher=launcher, clock=clock)
    restarted.start()  # the store says the night is done: a restart does not run it again
    restarted.shutdown()
    assert len(launcher.launched) == 1
    assert len(runs(app)) == 2
    assert app.store.query_one("SELECT trigger FROM training_runs ORDER BY id DESC LIMIT 1")["trigger"] == "catch-up"


def test_asleep_through_several_nights_with_the_app_open_runs_once(night, app):
    scheduler, clock, launcher = night
    assert scheduler._tick(clock.set(clock.now() + timedelta(days=3, hours=1))) == 1
    assert len(launcher.launched) == 1
    launcher.wait(30)
    scheduler._tick(clock.set(clock.now() + timedelta(minutes=20)))
    assert len(launcher.launched) == 1


def test_a_busy_user_postpones_the_run_until_idle(night, app):
    scheduler, clock, launcher = night
    app.settings.set("idle_minutes", 30)
    tonight = (clock.now() + timedelta(days=1)).replace(hour=3, minute=0)
    chat_at(app, tonight - timedelta(minutes=10))

    scheduler._tick(clock.set(tonight))
    assert launcher.launched == []
    assert "idle" in scheduler.last_decision
    assert scheduler.next_run_time() == tonight + timedelta(minutes=15)  # a retry, not tomorrow
    scheduler.apply_settings()  # the app re-applies settings: the pending retry survives
    assert scheduler.next_run_time() == tonight + timedelta(minutes=15)

    scheduler._tick(clock.set(tonight + timedelta(minutes=15)))
    assert launcher.launched == []  # 25 minutes idle: still too soon
    scheduler._tick(clock.set(tonight + timedelta(minutes=30)))
    assert len(launcher.launched) == 1
    launcher.wait(30)


def test_gate_reasons(app):
    now = datetime.now(timezone.utc)
    assert should_run_now(app, now) == (True, "ok")

    on_battery = Battery(percent=41, secsleft=3600, power_plugged=False)
    allowed, reason = should_run_now(app, now, battery_probe=lambda: on_battery)
    assert not allowed and "battery (41%)" in reason
    plugged = Battery(percent=41, secsleft=-2, power_plugged=True)
    assert should_run_now(app, now, battery_probe=lambda: plugged)[0]

    chat_at(app, now - timedelta(minutes=5))
    allowed, reason = should_run_now(app, now)
    assert not allowed and "5 minutes ago" in reason
    assert should_run_now(app, now + timedelta(minutes=31))[0]

    app.settings.set("learning_enabled", False)
    allowed, reason = should_run_now(app, now + timedelta(hours=2))
    assert not allowed and "nocturne learning on" in reason
