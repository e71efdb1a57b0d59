"""The nightly job's proposal step: pending memories from the turns logged since it last read.

The step reads the user's new turns in id order, batch by batch, and stops once its time budget
is spent, so proposals never eat the night's training time. Where it stopped is kept in the
database (the id of the last turn it read), and the next night resumes right after it: a turn is
read late, never skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

# Two minutes: a small share of a night (a 20-memory run trains for about 20 minutes on two
# cores). The rules read about a thousand turns a second, so only a model-based pass or a
# very slow machine ever reaches it; the rest waits for the next night.
PROPOSAL_BUDGET_SECONDS = 120.0
BATCH_TURNS = 500  # turns per batch: the clock is checked and the place saved between batches
# The last message id the step read, in the settings table (an internal key, not a setting).
CURSOR_KEY = "nightly_proposals_last_message_id"


@dataclass
class ProposalStep:
    """What one night's proposal step did."""

    proposed: list[int] = field(default_factory=list)  # the new pending memories
    turns: int = 0  # user turns read tonight
    finished: bool = True  # False: the budget ran out; the next night reads the rest
    seconds: float = 0.0

    def log_line(self) -> str:
        line = f"Proposals: read {self.turns} new turns in {self.seconds:.1f} s, proposed {len(self.proposed)}"
        if not self.finished:
            line += (f"; the step's budget ({PROPOSAL_BUDGET_SECONDS:.0f} s) ran out, the other "
                     "turns are read next night")
        return line + "."


def propose_new_turns(app, last_run_started: str | None,
                      budget_seconds: float = PROPOSAL_BUDGET_SECONDS,
                      clock: Callable[[], float] = time.monotonic) -> ProposalStep:
    """Propose pending memories from the user turns logged since the step last read.

    Imported conversations are left out: their turns were proposed from when they came in.

    Args:
        app: the Nocturne context (store and memory service).
        last_run_started: the previous run's start (ISO), used only the first time, before the
            step has kept its place: turns logged before it were read by that run.
        budget_seconds: stop after the batch during which this much time has passed.
        clock: seconds, monotonic (tests pass a fake one).

    Returns:
        What was read and proposed, and whether every new turn was read.
    """
    started = clock()
    step = ProposalStep()
    after = _last_read(app.store, last_run_started)
    service = app.memories()
    while True:
        batch = app.store.query(
            "SELECT * FROM messages WHERE id > ? AND role = 'user' AND conversation_id IN "
            "(SELECT id FROM conversations WHERE source IS NULL) ORDER BY id LIMIT ?",
            (after, BATCH_TURNS))
        if not batch:
            break
        step.proposed += service.propose_from(batch)
        step.turns += len(batch)
        after = batch[-1]["id"]
        # Saved after the batch's proposals: a crash in between rereads the batch, which
        # proposes nothing twice (proposals are checked against every stored memory).
        _save_last_read(app.store, after)
        if clock() - started >= budget_seconds:
            step.finished = after >= _newest_user_turn(app.store)
            break
    step.seconds = clock() - started
    return step


def _last_read(store, last_run_started: str | None) -> int:
    row = store.query_one("SELECT value FROM settings WHERE key = ?", (CURSOR_KEY,))
    if row is not None:
        return int(row["value"])
    if last_run_started is None:  # no run yet: every turn is new
        return 0
    row = store.query_one("SELECT max(id) AS id FROM messages WHERE created_at < ?", (last_run_started,))
    return row["id"] or 0


def _save_last_read(store, message_id: int) -> None:
    with store.transaction() as db:
        db.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                   "SET value = excluded.value", [CURSOR_KEY, str(message_id)])


def _newest_user_turn(store) -> int:
    row = store.query_one("SELECT max(id) AS id FROM messages WHERE role = 'user' AND conversation_id "
                          "IN (SELECT id FROM conversations WHERE source IS NULL)")
    return row["id"] or 0
