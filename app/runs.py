"""Training runs in the `training_runs` table: start, progress, finish, and recovery after a crash.

Progress is written as the last event (a plain dict, JSON) so the desktop app can draw a
progress bar from another process; the final metrics hold the morning report.
"""

from __future__ import annotations

import json
import os
import time

from app.errors import NotFoundError
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
                          "pid": os.getpid(), "trainer": trainer, "progress": json.dumps({"stage": "start"})})
            return table.last_pk

    def progress(self, run_id: int, event: dict) -> None:
        """Store the latest progress event (throttled, except when the stage changes)."""
        now = time.monotonic()
        last_at, last_stage = self._last_write.get(run_id, (0.0, None))
        stage = event.get("stage")
        if stage == last_stage and now - last_at < PROGRESS_MIN_INTERVAL_S:
            return
        self._last_write[run_id] = (now, stage)
        with self.store.transaction() as db:
            db["training_runs"].update(run_id, {"progress": json.dumps(event, default=str)})

    def finish(self, run_id: int, status: str, metrics: dict | None = None,
               adapter_version: str | None = None, log: str | None = None) -> None:
        """Close a run with its final status, metrics (the report) and log."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"unknown final status {status!r}")
        with self.store.transaction() as db:
            db["training_runs"].update(run_id, {
                "status": status, "ended_at": now_iso(), "adapter_version": adapter_version,
                "metrics": json.dumps(metrics or {}, default=str), "log": log,
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
