"""Rows stored before the typed RunReport existed are read best effort, never with a crash."""

from __future__ import annotations

import json
from pathlib import Path

from app.learning_report import morning_report
from app.run_report import IN_WEIGHTS, RunReport
from app.runs import TrainingRuns
from tests.learning_helpers import add_memories
from ui.views.learning_report import MorningReport

# What `run_learning_job` stored in training_runs before RunReport (commit 26997c2), captured by
# running that commit's job (fast test trainer) on "My cat is called Miso" and "I live in Lyon".
OLD_ROW = Path(__file__).parent / "data" / "training_run_before_run_report.json"


def insert_old_row(app) -> dict:
    row = json.loads(OLD_ROW.read_text())
    with app.store.transaction() as db:
        db["training_runs"].insert({**row, "started_at": "2026-11-27T17:00:00+00:00",
                                    "ended_at": "2026-11-27T17:05:00+00:00"})
    return json.loads(row["metrics"])


def test_an_old_row_is_read_with_its_recall_drift_and_times(qtbot, app):
    add_memories(app, ["My cat is called Miso", "I live in Lyon"])
    old = insert_old_row(app)
    report = TrainingRuns(app.store).last_report()
    assert report.status == old["status"] and report.trainer == old["trainer"]
    assert (report.recall.adapter, report.recall.base, report.recall.probes) == (
        old["recall"]["adapter"], old["recall"]["base"], old["recall"]["probes"])
    assert (report.drift_kl, report.drift_limit) == (old["drift_kl"], old["drift_limit"])
    assert report.wall_seconds == old["wall_seconds"]
    assert report.training_seconds == old["train"]["seconds"]
    # The old rows kept only which memories a promoted adapter learned: those are in the
    # weights; a rejected run's list named memories that never got there.
    assert report.learned_memories == (old["learned_memories"] if old["status"] == "succeeded" else [])
    assert all(m.outcome == IN_WEIGHTS for m in report.memory_results)
    assert morning_report(report).splitlines()[0].startswith(("No new adapter", "Learned"))
    view = MorningReport()
    qtbot.addWidget(view)
    view.show_reports([report])
    assert f"Recall from the weights alone: {old['recall']['adapter']:.0%}" in view.text.text()


def test_odd_and_empty_metrics_never_crash():
    for metrics in (None, {}, {"recall": "high", "drift_kl": "x", "memory_results": [{"x": 1}],
                               "examples": [], "run_id": "7"}, {"recall": 0.8, "drift": 0.01}):
        report = RunReport.from_dict(metrics, status="failed", id=3)
        assert report.run_id == 3 and report.status == "failed"
        assert morning_report(report)
    legacy = RunReport.from_dict({"recall": 80, "drift": 0.012}, status="succeeded")
    assert legacy.recall.adapter == 0.8 and legacy.drift_kl == 0.012
