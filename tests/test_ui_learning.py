"""The learning view: the toggle persists, runs and adapters show, empty states are clear."""

from __future__ import annotations

import json

from app.context import Nocturne
from ui.views.learning_view import LearningView


def add_run(app, status: str, recall: float | None, started: str, **fields) -> None:
    metrics = {} if recall is None else {"recall": recall, "drift": 0.012,
                                         "report": "Learned 3 memories about you."}
    with app.store.transaction() as db:
        db["training_runs"].insert({"trigger": "scheduled", "started_at": started,
                                    "ended_at": started, "status": status,
                                    "metrics": json.dumps(metrics), **fields})


def test_learning_toggle_persists_across_a_restart_of_the_window(qtbot, nocturne_home):
    app = Nocturne(nocturne_home)
    view = LearningView(app)
    qtbot.addWidget(view)
    assert view.enabled.isChecked()  # the default is on
    view.enabled.click()
    assert not view.enabled.isChecked()
    assert view.next_run.text() == "off"
    view.close()
    app.close()

    reopened = Nocturne(nocturne_home)
    again = LearningView(reopened)
    qtbot.addWidget(again)
    assert not again.enabled.isChecked()
    assert reopened.settings.get("learning_enabled") is False
    reopened.close()


def test_empty_state_when_nothing_was_learned_yet(qtbot, app):
    view = LearningView(app)
    qtbot.addWidget(view)
    view.show()
    assert view.runs_empty.isVisible() and not view.runs.isVisible()
    assert view.adapters_empty.isVisible()
    assert "No learning runs yet" in view.report.text.text()
    assert view.last_run.text() == "never"
    assert not view.learn_button.isEnabled() or view.scheduler is not None


def test_runs_report_chart_and_progress(qtbot, app):
    add_run(app, "succeeded", 0.5, "2025-01-01T03:00:00+00:00", adapter_version="v1")
    add_run(app, "succeeded", 0.8, "2025-01-02T03:00:00+00:00", adapter_version="v2")
    view = LearningView(app)
    qtbot.addWidget(view)
    view.show()
    assert view.runs.rowCount() == 2
    report = view.report.text.text()
    assert "Learned 3 memories" in report and "80%" in report
    assert view.report.chart_view.isVisible()
    assert view.report.chart.series()[0].count() == 2
    assert not view.progress.isVisible()

    add_run(app, "running", None, "2025-01-03T03:00:00+00:00",
            progress=json.dumps({"stage": "training", "step": 3, "total": 10, "loss": 1.5}))
    view.refresh()
    assert view.progress.isVisible() and view.progress.value() == 3
    assert view.progress.maximum() == 10
    assert "training" in view.stage.text() and view.cancel_button.isEnabled()
    assert view.poll.interval() == 1000


def test_toggle_and_time_reschedule_the_real_nightly_scheduler(qtbot, app):
    from scheduler.nightly import NightlyScheduler

    scheduler = NightlyScheduler(app)  # not started: a test must never launch a learning run
    view = LearningView(app, scheduler)
    qtbot.addWidget(view)
    view.enabled.click()  # off
    assert scheduler.next_run_time() is None and view.next_run.text() == "off"
    view.enabled.click()  # on again
    view.time.setTime(view.time.time().fromString("04:30", "HH:mm"))
    view.time.editingFinished.emit()
    assert app.settings.get("learning_time") == "04:30"
    when = scheduler.next_run_time()
    assert when is not None and (when.hour, when.minute) == (4, 30)
    assert view.next_run.text().endswith("04:30")
    assert view.learn_button.isEnabled()


def test_learn_now_and_cancel_clicked_through_the_view(qtbot, app, tmp_path, monkeypatch):
    """Learn now starts a real child (the fake `nocturne learn` of the scheduler tests, held
    running); the view shows it, and Cancel stops it and records 'cancelled'."""
    from PySide6.QtCore import Qt

    from scheduler.nightly import Clock, NightlyScheduler
    from tests.test_scheduler_nightly import FakeLearnLauncher

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no OS agent installed
    launcher = FakeLearnLauncher(app.home, Clock(), tmp_path, mode="hold")
    scheduler = NightlyScheduler(app, launcher=launcher)  # not started: only Learn now runs
    view = LearningView(app, scheduler)
    qtbot.addWidget(view)
    view.show()
    try:
        qtbot.mouseClick(view.learn_button, Qt.MouseButton.LeftButton)
        assert launcher.launched and "--scheduled" not in launcher.launched[0]  # no idle checks
        assert view.progress.isVisible() and not view.learn_button.isEnabled()  # at once
        qtbot.waitUntil(lambda: view.runs.rowCount() == 1 and view.cancel_button.isEnabled(), timeout=15000)
        assert view.progress.isVisible()

        qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
        assert launcher.wait(30) is not None
        view.refresh()
        assert app.store.query_one("SELECT status FROM training_runs")["status"] == "cancelled"
        assert not view.cancel_button.isEnabled() and not view.progress.isVisible()
    finally:
        if launcher.own_child_alive():
            launcher.kill()
