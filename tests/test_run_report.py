"""Rows stored before the typed RunReport existed are read best effort, never with a crash."""

from __future__ import annotations

from app.learning_report import morning_report
from app.run_report import IN_WEIGHTS, RunReport


def test_odd_and_empty_metrics_never_crash():
    for metrics in (None, {}, {"recall": "high", "drift_kl": "x", "memory_results": [{"x": 1}],
                               "examples": [], "run_id": "7"}, {"recall": 0.8, "drift": 0.01}):
        report = RunReport.from_dict(metrics, status="failed", id=3)
        assert report.run_id == 3 and report.status == "failed"
        assert morning_report(report)
    legacy = RunReport.from_dict({"recall": 80, "drift": 0.012}, status="succeeded")
    assert legacy.recall.adapter == 0.8 and legacy.drift_kl == 0.012


def test_the_layout_the_job_wrote_before_run_report_keeps_its_numbers():
    """The keys commit 26997c2's job wrote (no captured row: see the report-ui notes)."""
    old = {"status": "succeeded", "trainer": "llamacpp", "adapter_version": "v1", "memories_trained": 2,
           "recall": {"base": 0.25, "adapter": 0.75, "probes": 4}, "drift_kl": 0.02,
           "yardstick_kl": 0.004, "drift_limit": 0.05, "learned_memories": [1, 2],
           "train": {"seconds": 61.0, "tokens_per_s": 43.0, "final_loss": 0.4}, "wall_seconds": 300.0,
           "summary": "Learned 2 of 2 memories ...", "probe_answers": [{"question": "Where do I live?"}]}
    report = RunReport.from_dict(old, status="succeeded", id=1)
    assert (report.recall.adapter, report.recall.base, report.recall.probes) == (0.75, 0.25, 4)
    assert (report.drift_kl, report.drift_limit, report.training_seconds) == (0.02, 0.05, 61.0)
    assert [(m.memory_id, m.outcome) for m in report.memory_results] == [(1, IN_WEIGHTS), (2, IN_WEIGHTS)]
    assert report.probe_answers == []  # never read back from storage
    rejected = RunReport.from_dict({**old, "status": "rejected"}, status="rejected", id=2)
    assert rejected.memory_results == []  # its list named memories that never reached the weights
