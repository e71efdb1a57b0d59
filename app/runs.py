"""Training runs in the `training_runs` table: start, progress, finish, and recovery after a crash.

Progress is written as the last event (a `ProgressEvent`, JSON) so the desktop app can draw a
progress bar from another process; the final metrics hold the run's `RunReport`.
"""

from __future__ import annotations

import json
import os
import time

from app.errors import NotFoundError
from app.run_progress import ProgressEvent
from app.run_report import RunReport
from ondevice.process import pid_alive
from app.store import Store, now_iso

# skipped: the model cannot be trained here (can_learn said why before any work).
FINAL_STATUSES = ("succeeded", "rejected", "failed", "cancelled", "interrupted", "skipped")
# Training reports a step every second or so: writing each one would churn the WAL for nothing.
PROGRESS_MIN_INTERVAL_S = 0.5


def _decode(row: dict | None) -> dict | None:
    if row is None:
        return None
    row = dict(row)
    for key in ("progress", "metrics"):
        row[key] = json.loads(row[key]) if row.get(key) else None
    return row


class TrainingRuns:
    """Args: store: the app's Store."""

    def __init__(self, store: Store):
        self.store = store
        self._last_write: dict[int, tuple[float, str | None]] = {}

    def start(self, trigger: str, trainer: str) -> int:
        """Record a run that starts now in this process.

        Args:
            trigger: manual | scheduled | catch-up.
            trainer: mlx | llamacpp.

        Returns:
            The run id.
        """
        with self.store.transaction() as db:
            table = db["training_runs"]
            table.insert({"trigger": trigger, "started_at": now_iso(), "status": "running",
                          "pid": os.getpid(), "trainer": trainer,
                          "progress": json.dumps(ProgressEvent("start").to_dict())})
            return table.last_pk

    def progress(self, run_id: int, event: ProgressEvent) -> None:
        """Store the latest progress event (throttled, except when the stage changes)."""
        now = time.monotonic()
        last_at, last_stage = self._last_write.get(run_id, (0.0, None))
        if event.stage == last_stage and now - last_at < PROGRESS_MIN_INTERVAL_S:
            return
        self._last_write[run_id] = (now, event.stage)
        with self.store.transaction() as db:
            db["training_runs"].update(run_id, {"progress": json.dumps(event.to_dict())})

    def finish(self, run_id: int, report: RunReport, log: str | None = None) -> None:
        """Close a run with its report (its status, adapter and metrics) and log; stamps
        `report.ended_at`."""
        if report.status not in FINAL_STATUSES:
            raise ValueError(f"unknown final status {report.status!r}")
        report.ended_at = now_iso()
        with self.store.transaction() as db:
            db["training_runs"].update(run_id, {
                "status": report.status, "ended_at": report.ended_at, "adapter_version": report.adapter_version,
                "metrics": json.dumps(report.to_dict(), default=str), "log": log,
            })
        self._last_write.pop(run_id, None)

    def recover_interrupted(self) -> list[int]:
        """Mark 'running' rows whose process is gone as 'interrupted' (killed, crashed, power cut).

        Returns:
            The ids that were marked.
        """
        rows = self.store.query("SELECT id, pid FROM training_runs WHERE status = 'running'")
        dead = [row["id"] for row in rows if not pid_alive(row["pid"])]
        if dead:
            with self.store.transaction() as db:
                for run_id in dead:
                    db["training_runs"].update(run_id, {
                        "status": "interrupted", "ended_at": now_iso(),
                        "log": "The run stopped without finishing (the process was killed or the "
                               "machine went down); the previous adapter stayed active.",
                    })
        return dead

    def get(self, run_id: int) -> dict:
        row = _decode(self.store.query_one("SELECT * FROM training_runs WHERE id = ?", (run_id,)))
        if row is None:
            raise NotFoundError(f"There is no training run {run_id}: see `nocturne report`.")
        return row

    def last(self) -> dict | None:
        """The most recent run, or None."""
        return _decode(self.store.query_one("SELECT * FROM training_runs ORDER BY id DESC LIMIT 1"))

    def list(self, limit: int = 50) -> list[dict]:
        """Recent runs, newest first."""
        rows = self.store.query("SELECT * FROM training_runs ORDER BY id DESC LIMIT ?", (limit,))
        return [_decode(row) for row in rows]

    # -- typed reading --------------------------------------------------------------------------

    def report(self, row: dict) -> RunReport:
        """The typed report of a run row (from `get`, `last` or `list`), memory texts filled in."""
        return self._with_texts([self._typed(row)])[0]

    def reports(self, limit: int = 50) -> list[RunReport]:
        """Reports of recent runs, newest first (one query for all their memory texts)."""
        return self._with_texts([self._typed(row) for row in self.list(limit)])

    @staticmethod
    def _typed(row: dict) -> RunReport:
        report = RunReport.from_dict(row.get("metrics"), **row)
        if report.reason is None and report.status == "interrupted":
            report.reason = row.get("log")
        return report

    def _with_texts(self, reports: list[RunReport]) -> list[RunReport]:
        """Fill memory texts from the memories table as it is now; memories deleted since the
        runs drop out of their lists (their text is gone for good)."""
        ids = sorted({m.memory_id for report in reports for m in report.memory_results})
        texts = {}
        if ids:
            marks = ",".join("?" * len(ids))
            texts = {r["id"]: r["text"] for r in self.store.query(
                f"SELECT id, text FROM memories WHERE id IN ({marks})", tuple(ids))}
        for report in reports:
            report.memory_results = [m for m in report.memory_results if m.memory_id in texts]
            for memory in report.memory_results:
                memory.text = texts[memory.memory_id]
        return reports

    def last_report(self) -> RunReport | None:
        row = self.last()
        return self.report(row) if row else None

    def current_progress(self) -> ProgressEvent | None:
        """The last progress event of the run going on now, or None when none is."""
        row = self.last()
        if row is None or row["status"] != "running":
            return None
        return ProgressEvent.from_dict(row.get("progress"))
