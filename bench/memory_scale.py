"""Memories at the scale of a busy month and of an imported history.

1. The nightly job's proposal step (app.learning_job.propose_from_recent_chats, as the job runs
   it) on N new user turns logged in chats here (default 1,000, varied copies of the development
   conversations): seconds per 100 turns, and whether it stays within its budget.
2. Bulk review: the same chats imported as a Claude export (app.history_import), then the
   memories view's work: listing the pending proposals, approving them all, rejecting them all,
   each in milliseconds against the 50 ms the view allows itself on the UI thread.
3. The same in the memories view itself (offscreen Qt): a refresh, a filter change, and
   "Approve/Reject all shown" on every pending row, each including the table's redraw.

Usage: scripts/with-blas.sh .venv/bin/python bench/memory_scale.py [--turns 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

UI_THREAD_MS = 50  # longer than this on the UI thread and the view would need a worker


def fresh_app(folder: Path):
    from app.context import Nocturne

    os.environ["NOCTURNE_HOME"] = str(folder)
    return Nocturne(folder)


def nightly_step(turns: int) -> None:
    from app.learning_job import propose_from_recent_chats
    from app.nightly_proposals import PROPOSAL_BUDGET_SECONDS
    from app.runs import TrainingRuns
    from bench.devset_chats import chats_with_user_turns

    app = fresh_app(Path(tempfile.mkdtemp()) / "home")
    for number, chat in enumerate(chats_with_user_turns(turns)):
        conversation = app.log.create(f"Chat {number}")
        for turn in chat:
            app.log.add_message(conversation, turn["role"], turn["content"])
    started = time.perf_counter()
    step = propose_from_recent_chats(app, TrainingRuns(app.store))
    seconds = time.perf_counter() - started
    app.close()
    within = "yes" if step.finished and seconds <= PROPOSAL_BUDGET_SECONDS else "NO"
    print(f"nightly proposal step: {step.turns} new user turns, {len(step.proposed)} proposed, "
          f"{seconds:.2f} s ({100 * seconds / max(1, step.turns):.3f} s per 100 turns); "
          f"budget {PROPOSAL_BUDGET_SECONDS:.0f} s, within it: {within}")


def best_ms(action, repeat: int, before=lambda: None) -> float:
    """The fastest of `repeat` runs of `action` (each after `before`, untimed), in ms."""
    best = float("inf")
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return 1000 * best


def imported_app(turns: int):
    """A fresh data folder with `turns` user turns imported as a Claude export (all proposed)."""
    from app.history_import import import_history
    from bench.devset_chats import chats_with_user_turns, write_claude_export

    folder = Path(tempfile.mkdtemp())
    app = fresh_app(folder / "home")
    export = write_claude_export(folder / "conversations.json", chats_with_user_turns(turns))
    started = time.perf_counter()
    result = import_history(app, export)
    print(f"import: {result.conversations} chats, {result.proposed_memories} proposals in "
          f"{time.perf_counter() - started:.2f} s")
    return app


def set_all(app, status: str) -> None:
    with app.store.transaction() as db:
        db.execute("UPDATE memories SET status = ?", [status])


def print_timings(rows: dict[str, float], repeat: int) -> None:
    for name, ms in rows.items():
        print(f"{name:<44} {ms:8.1f} ms (best of {repeat}); under {UI_THREAD_MS} ms: "
              f"{'yes' if ms < UI_THREAD_MS else 'NO'}")


def bulk_review(turns: int, repeat: int) -> None:
    from app.memory_review import MemoryFilter

    app = imported_app(turns)
    service = app.memories()
    ids = service.matching_ids(MemoryFilter(status="pending", source="claude"))
    pending, approved = (lambda: set_all(app, "pending")), (lambda: set_all(app, "approved"))
    # every timed review changes every row; with all approved, the list also looks for
    # contradictions among them
    rows = {"list pending (the view's query)": best_ms(lambda: service.list("pending", source="claude"), repeat),
            f"approve all {len(ids)} shown": best_ms(lambda: service.review(ids, "approved"), repeat, pending),
            f"reject all {len(ids)} shown": best_ms(lambda: service.review(ids, "rejected"), repeat, approved),
            "list all, all approved (the view's query)": best_ms(lambda: service.list(), repeat, approved)}
    app.close()
    print_timings(rows, repeat)


def view_actions(turns: int, repeat: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from ui.style import apply_style
    from ui.views.memories_view import MemoriesView

    qt = QApplication.instance() or QApplication([])
    apply_style(qt)
    app = imported_app(turns)
    view = MemoriesView(app)
    view.resize(1100, 640)
    view.show()
    status = view.status_filter

    def show_pending() -> None:
        status.setCurrentIndex(0)
        set_all(app, "pending")
        status.setCurrentIndex(status.findData("pending"))

    def approve_shown() -> None:  # what "Approve all shown" does once confirmed
        view.review([m["id"] for m in view.model.memories()], "approved")

    count = len(app.store.query("SELECT id FROM memories"))
    rows = {"view: refresh": best_ms(view.refresh, repeat),
            "view: filter to pending": best_ms(lambda: status.setCurrentIndex(status.findData("pending")),
                                               repeat, lambda: status.setCurrentIndex(0)),
            f"view: approve all {count} shown": best_ms(approve_shown, repeat, show_pending),
            f"view: reject all {count} shown":
                best_ms(lambda: view.review([m["id"] for m in view.model.memories()], "rejected"),
                        repeat, show_pending)}
    view.close()
    app.close()
    print_timings(rows, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000, help="new user turns (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this many")
    args = parser.parse_args()
    nightly_step(args.turns)
    bulk_review(args.turns, args.repeat)
    view_actions(args.turns, args.repeat)


if __name__ == "__main__":
    main()
