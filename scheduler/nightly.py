"""The in-app nightly trigger: an APScheduler cron job at `learning_time`, catch-up of a missed
night (once, whatever the number of nights missed), retries while the user is busy, and the
child process that does the work.

Whether tonight's run is still owed is derived from the store, not kept in memory: the last
scheduled time that has passed against the start of the newest training run. So a restart, a
closed app or a sleeping laptop cannot make a night run twice or be forgotten.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, tzinfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from scheduler.agent import agent_installed
from scheduler.child import LearnLauncher
from scheduler.gate import aware, local_now, parse_stamp, should_run_now

log = logging.getLogger(__name__)

NIGHT_JOB = "nightly-learning"
RETRY_JOB = "nightly-retry"
# Busy user or on battery: ask again this much later (cheap: one query and one psutil call).
RETRY_AFTER = timedelta(minutes=15)
# A child that dies before recording its run would otherwise be relaunched every retry.
MAX_LAUNCHES_PER_NIGHT = 3


class Clock:
    """Real local time. Tests pass a subclass whose time they set (`realtime = False`)."""

    realtime = True

    def now(self) -> datetime:
        return local_now()

    @property
    def tz(self) -> tzinfo:
        import tzlocal  # APScheduler's own dependency; a real zone keeps 03:00 right across DST

        return tzlocal.get_localzone()


def night_trigger(learning_time: str, tz: tzinfo) -> CronTrigger:
    """The cron trigger for 'every day at HH:MM' in the local timezone."""
    hour, minute = (int(part) for part in learning_time.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=tz)


def next_fire_time(learning_time: str, now: datetime, tz: tzinfo | None = None) -> datetime:
    """The first scheduled time at or after `now`."""
    now = aware(now)
    return night_trigger(learning_time, tz or now.tzinfo).get_next_fire_time(None, now)


def last_fire_time(learning_time: str, now: datetime, tz: tzinfo | None = None) -> datetime:
    """The latest scheduled time at or before `now` (today's or yesterday's HH:MM)."""
    now = aware(now)
    trigger = night_trigger(learning_time, tz or now.tzinfo)
    slot = trigger.get_next_fire_time(None, now - timedelta(hours=25))
    while True:
        following = trigger.get_next_fire_time(None, slot + timedelta(seconds=1))
        if following > now:
            return slot
        slot = following


def last_run_start(app) -> datetime | None:
    """When the newest training run started (any trigger, any outcome), or None."""
    row = app.store.query_one("SELECT max(started_at) AS started FROM training_runs")
    return parse_stamp(row["started"] if row else None)


def install_time(app) -> datetime | None:
    """When this data folder was created: nights before it were never owed."""
    row = app.store.query_one("SELECT min(applied_at) AS first FROM _migrations")
    return parse_stamp(row["first"] if row else None)


def owed_night(app, now: datetime, tz: tzinfo | None = None) -> datetime | None:
    """The scheduled time whose run has not happened yet, or None when nothing is owed.

    Args:
        app: the Nocturne instance.
        now: the moment to judge.
        tz: the timezone of `learning_time` (default: `now`'s).

    Returns:
        The last passed scheduled time, if no run started since it (and it is after the data
        folder was created); however many nights were missed, only this one is owed.
    """
    slot = last_fire_time(app.settings.get("learning_time"), now, tz)
    anchor = last_run_start(app) or install_time(app)
    if anchor is not None and anchor >= slot:
        return None
    return slot


class NightlyScheduler:
    """Runs the sleep-time job at night inside the running app.

    Args:
        app: the Nocturne instance (settings, store, data folder).
        launcher: starts the child (default: `LearnLauncher(app.home)`).
        clock: the time source (default: real local time); with a non-realtime clock the
            APScheduler loop stays paused and the caller drives it with `_tick(now)`.
    """

    def __init__(self, app, launcher: LearnLauncher | None = None, clock: Clock | None = None):
        self.app = app
        self.launcher = launcher or LearnLauncher(app.home)
        self.clock = clock or Clock()
        self.tz = self.clock.tz
        self.last_decision = ""  # why the latest attempt did not launch (for status lines)
        self._launches: dict[datetime, int] = {}
        self._lock = threading.RLock()
        self._scheduler = BackgroundScheduler(
            timezone=self.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Record runs a crash left 'running', schedule tonight, and catch up a missed night."""
        recover_interrupted(self.app)
        self._scheduler.start(paused=not self.clock.realtime)
        self.apply_settings()
        self.catch_up_if_missed()

    def shutdown(self) -> None:
        """Stop the trigger. A run in progress goes on: it is isolated in its own process."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def apply_settings(self) -> None:
        """Re-read `learning_enabled` / `learning_time`: add, remove or reschedule the job."""
        with self._lock:
            self._remove(NIGHT_JOB)
            if not self.app.settings.get("learning_enabled"):
                self._remove(RETRY_JOB)
                self.last_decision = "Nightly learning is off."
                return
            if agent_installed(self.app.home):
                # The OS runs the job even when the app is closed: running it here too would
                # make the night run twice.
                self._remove(RETRY_JOB)
                self.last_decision = "The system agent runs nightly learning."
                return
            trigger = night_trigger(self.app.settings.get("learning_time"), self.tz)
            self._scheduler.add_job(
                self._on_night, trigger, id=NIGHT_JOB, name="Nocturne nightly learning",
                # Strictly after now: a slot that is due now is the catch-up's business.
                next_run_time=trigger.get_next_fire_time(
                    None, self.clock.now() + timedelta(microseconds=1)
                ),
            )

    def _remove(self, job_id: str) -> None:
        if self._scheduler.get_job(job_id):
            self._scheduler.remove_job(job_id)

    # -- what the app shows and does ----------------------------------------------------------

    def next_run_time(self) -> datetime | None:
        """When the scheduler will next try (a retry or tonight's time); None when off."""
        times = [job.next_run_time for job in self._scheduler.get_jobs() if job.next_run_time]
        return min(times) if times else None

    def catch_up_if_missed(self, now: datetime | None = None) -> bool:
        """Run the owed night now if it was missed and the gate allows it.

        Args:
            now: the moment to judge (default: the clock's now).

        Returns:
            True when a learning child was launched.
        """
        return self._attempt(aware(now or self.clock.now()), catch_up=True)

    def run_now(self):
        """'Learn now': start `nocturne learn` (no idle/power checks). Returns the child process.

        Raises:
            RunBusyError: a run is already going on.
        """
        return self.launcher.launch(scheduled=False)

    def cancel_run(self) -> bool:
        """Ask the run in progress to stop; True when there was one."""
        return self.launcher.cancel()

    def is_running(self) -> bool:
        return self.launcher.is_running()

    # -- the trigger --------------------------------------------------------------------------

    def _on_night(self) -> None:
        self._attempt(self.clock.now())

    def _attempt(self, now: datetime, catch_up: bool = False) -> bool:
        """Launch the owed night's run if the gate allows; otherwise schedule a retry.

        `catch_up` marks the check made at start-up: a run it launches makes up a missed night.
        """
        with self._lock:
            if not self.app.settings.get("learning_enabled") or agent_installed(self.app.home):
                return False
            slot = owed_night(self.app, now, self.tz)
            if slot is None:
                self.last_decision = "Tonight's run has already happened."
                return False
            if self.launcher.is_running():
                self.last_decision = "A learning run is going on."
                self._retry_later(now)
                return False
            if self._launches.get(slot, 0) >= MAX_LAUNCHES_PER_NIGHT:
                self.last_decision = (
                    f"The learning job failed to start {MAX_LAUNCHES_PER_NIGHT} times tonight: "
                    f"see {self.app.home / 'logs'}."
                )
                return False
            allowed, reason = should_run_now(self.app, now)
            if not allowed:
                self.last_decision = reason
                self._retry_later(now)
                return False
            self._launches[slot] = self._launches.get(slot, 0) + 1
            self.launcher.launch(scheduled=True, catch_up=catch_up)
            self.last_decision = f"Started the run owed for {slot:%Y-%m-%d %H:%M}."
            # If the child declines or dies before recording its run, the night is still owed.
            self._retry_later(now)
            return True

    def _retry_later(self, now: datetime) -> None:
        at = now + RETRY_AFTER
        self._scheduler.add_job(
            self._on_night, DateTrigger(run_date=at), id=RETRY_JOB, name="Nocturne retry",
            replace_existing=True, next_run_time=at,
        )

    def _tick(self, now: datetime) -> int:
        """Run the jobs due at `now` as APScheduler would (coalesced: once however late).

        Used with a controllable clock; the real scheduler's own loop does this in real time.

        Returns:
            How many jobs ran.
        """
        now = aware(now)
        ran = 0
        for job in self._scheduler.get_jobs():
            if job.next_run_time is None or job.next_run_time > now:
                continue
            last_due = job.next_run_time
            following = job.trigger.get_next_fire_time(last_due, now)
            while following is not None and following <= now:
                last_due, following = following, job.trigger.get_next_fire_time(following, now)
            if following is None:
                self._scheduler.remove_job(job.id)
            else:
                self._scheduler.modify_job(job.id, next_run_time=following)
            job.func(*job.args, **job.kwargs)
            ran += 1
        return ran


def recover_interrupted(app) -> None:
    """Mark runs left 'running' by a dead process as interrupted (the learning side owns runs)."""
    try:
        from app.runs import TrainingRuns
    except ImportError:  # the learning feature is not in this build
        return
    TrainingRuns(app.store).recover_interrupted()
