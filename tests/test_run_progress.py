"""Progress events in words, with the time left from this run's pace and the last run's stages."""

from __future__ import annotations

from app.run_progress import ProgressClock, ProgressEvent, time_left


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_time_left_extrapolates_the_stage_and_adds_the_later_stages_of_the_last_run():
    clock = FakeClock()
    progress = ProgressClock({"replay": 5.0, "train": 100.0, "export": 2.0, "evaluate": 30.0}, clock)
    assert progress.event({"stage": "replay", "step": 0, "total": 4}).eta_seconds == 5.0 + 132.0
    clock.now = 10.0
    event = progress.event({"stage": "train", "step": 0, "total": 50})
    assert event.words == "Learning" and event.eta_seconds == 132.0  # not started: the last run's time
    clock.now = 30.0  # 10 of 50 steps in 20 s: 80 s to go, then export and evaluation
    assert progress.event({"stage": "train", "step": 10, "total": 50, "loss": 2.4}).eta_seconds == 80.0 + 32.0
    clock.now = 110.0
    event = progress.event({"stage": "evaluate", "step": 0, "total": 5, "message": "base model recall"})
    assert event.words == "Checking recall" and event.eta_seconds == 30.0
    clock.now = 122.0
    event = progress.event({"stage": "evaluate", "step": 2, "total": 5, "message": "drift"})
    assert event.words == "Checking the model is unharmed" and event.eta_seconds == 18.0
    assert progress.stop() == {"replay": 10.0, "train": 100.0, "evaluate": 12.0}


def test_without_an_earlier_run_only_the_last_stage_has_a_time_left():
    clock = FakeClock()
    progress = ProgressClock({}, clock)
    assert progress.event({"stage": "train", "step": 5, "total": 10}).eta_seconds is None
    progress.event({"stage": "evaluate", "step": 0, "total": 5, "message": "base model recall"})
    clock.now = 8.0
    event = progress.event({"stage": "evaluate", "step": 4, "total": 5, "message": "recall in chat"})
    assert event.words == "Checking recall in chat" and event.eta_seconds == 2.0


def test_events_round_trip_and_old_rows_read_without_crashing():
    event = ProgressEvent("train", 3, 10, "", 75.0)
    assert ProgressEvent.from_dict(event.to_dict()) == event
    old = ProgressEvent.from_dict({"stage": "train", "step": 3, "total": 10, "loss": 1.5})
    assert old.words == "Learning" and old.eta_seconds is None
    assert ProgressEvent.from_dict(None).words == "Starting"
    assert [time_left(s) for s in (None, 20, 150, 7200)] == [
        "", "less than a minute left", "about 2 min left", "about 2.0 h left"]
