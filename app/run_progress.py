"""Progress of a learning run: typed events in plain words, with the time left.

Trainers and the evaluation report progress as plain dicts (ondevice knows nothing above it);
the job turns each into a `ProgressEvent`, stored as the run's last progress (another process,
the desktop app, draws it) and handed to the caller's progress bar.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

# The job's stages in the order they run; each has the words a user reads.
STAGES = ("start", "replay", "prepare", "train", "export", "evaluate", "done")
STAGE_WORDS = {
    "start": "Starting",
    "replay": "Preparing examples",
    "prepare": "Preparing the model",
    "train": "Learning",
    "export": "Saving the adapter",
    "evaluate": "Checking recall",
    "done": "Done",
}


@dataclass
class ProgressEvent:
    """stage: one of STAGES; step of total in that stage; message: what it does now, in words;
    eta_seconds: time left for the whole run (None until it can be estimated)."""

    stage: str
    step: int = 0
    total: int = 0
    message: str = ""
    eta_seconds: float | None = None

    @property
    def words(self) -> str:
        """The stage in plain words ("Learning"), or the step's own words when it has them."""
        return self.message or STAGE_WORDS.get(self.stage, self.stage.capitalize())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> ProgressEvent:
        """Best effort: older rows stored raw trainer dicts (with a loss, without words)."""
        data = data if isinstance(data, dict) else {}

        def whole(key):
            value = data.get(key)
            return int(value) if isinstance(value, (int, float)) else 0

        eta = data.get("eta_seconds")
        message = data.get("message")
        return cls(str(data.get("stage") or "start"), whole("step"), whole("total"),
                   message if isinstance(message, str) else "",
                   float(eta) if isinstance(eta, (int, float)) else None)


def time_left(seconds: float | None) -> str:
    """120 -> "about 2 min left"; None -> "" (not known yet)."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    return f"about {minutes / 60:.1f} h left"


class ProgressClock:
    """Times each stage and estimates the time left.

    The current stage's rest is extrapolated from its own pace (steps done so far); the stages
    after it take what they took in the previous run (`previous`), when there was one.

    Args:
        previous: stage -> seconds of the last finished run, or {}.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, previous: dict[str, float] | None = None, clock=time.monotonic):
        self.previous = previous or {}
        self.clock = clock
        self.seconds: dict[str, float] = {}
        self._stage: str | None = None
        self._stage_started = clock()

    def event(self, raw: dict) -> ProgressEvent:
        """The typed event for a raw progress dict, with the time left."""
        now = self.clock()
        stage = raw.get("stage") if raw.get("stage") in STAGES else self._stage or "start"
        if stage != self._stage:
            self.stop()
            self._stage, self._stage_started = stage, now
        step, total = int(raw.get("step") or 0), int(raw.get("total") or 0)
        message = raw.get("message") if stage == "evaluate" else ""
        return ProgressEvent(stage, step, total, _evaluation_words(message),
                             self._eta(stage, step, total, now - self._stage_started))

    def stop(self) -> dict[str, float]:
        """Close the current stage's time; returns stage -> seconds so far."""
        now = self.clock()
        if self._stage is not None:
            self.seconds[self._stage] = round(self.seconds.get(self._stage, 0.0) + now - self._stage_started, 1)
        self._stage, self._stage_started = None, now
        return dict(self.seconds)

    def _eta(self, stage: str, step: int, total: int, elapsed: float) -> float | None:
        if stage == "done":
            return 0.0
        if step <= 0 or total <= 0:
            rest = self.previous.get(stage)
            if rest is None:
                return None
        else:
            rest = elapsed / step * max(0, total - step)
        later = STAGES[STAGES.index(stage) + 1:-1]
        if later and not self.previous:
            return None  # no earlier run to tell how long the rest takes
        return rest + sum(self.previous.get(s, 0.0) for s in later)


def _evaluation_words(message: str | None) -> str:
    """The evaluation's step names, in a user's words."""
    words = {"base model recall": "Checking recall", "adapter recall": "Checking recall",
             "drift": "Checking the model is unharmed",
             "quantization yardstick": "Checking the model is unharmed",
             "recall in chat": "Checking recall in chat", "base model in chat": "Checking recall in chat"}
    return words.get(message or "", "")
