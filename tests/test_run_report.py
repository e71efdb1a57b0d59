"""Rows stored before the typed RunReport existed are read best effort, never with a crash."""

from __future__ import annotations

from app.learning_report import morning_report
from app.run_report import RunReport

def test_odd_and_empty_metrics_never_crash():
    for metrics in (None, {}, {"recall": "high", "drift_kl": "x", "memory_results": [{"x": 1}],
                               "examples": [], "run_id": "7"}, {"recall": 0.8, "drift": 0.01}):
        report = RunReport.from_dict(metrics, status="failed", id=3)
        assert report.run_id == 3 and report.status == "failed"
        assert morning_report(report)
    legacy = RunReport.from_dict({"recall": 80, "drift": 0.012}, status="succeeded")
    assert legacy.recall.adapter == 0.8 and legacy.drift_kl == 0.012
