"""Whether a night also practises reading memories from the prompt, as chat shows them.

Reading practice asks a share of the trained questions once more with their own memory among
others in the system prompt (ondevice/training/dataset.py). It is on only when the night's time
cannot cover the planned steps: then most memories stay in chat's prompt and reading them there
is what chat needs (100 memories, same machine and commit: 56% answered in chat without it,
65% with it). When the set
fits, memories are meant to leave the prompt, and an adapter trained to read its prompt answered
from the other memories once its own had left (4 memories: with MLX none could leave).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.run_report import RunReport

# Share of questions asked again with their memory shown, when reading practice is on.
READING_SHARE_ON = 0.5


@dataclass(frozen=True)
class Pace:
    """How fast this trainer trained this model here, from the last run that trained it."""

    seconds_per_step: float
    setup_seconds: float  # trainer time outside the steps (loading, conversion): it uses the budget too


@dataclass(frozen=True)
class ReadingPlan:
    share: float
    reason: str  # one sentence for the run's log and the morning report


def last_pace(reports: list[RunReport], trainer: str, base_sha256: str | None) -> Pace | None:
    """The pace of the newest run (of `reports`, newest first) that trained this model with this
    trainer, or None when none did (a first night, another model, another trainer)."""
    for report in reports:
        if report.trainer != trainer or report.base_sha256 != base_sha256:
            continue
        metrics = report.trainer_metrics
        steps, tokens, speed = metrics.get("steps"), metrics.get("train_tokens"), metrics.get("tokens_per_s")
        if not steps or not tokens or not speed:
            continue
        step_seconds = tokens / speed  # both trainers: tokens_per_s = train_tokens / time in steps
        setup = max(0.0, (metrics.get("seconds") or step_seconds) - step_seconds)
        return Pace(step_seconds / steps, setup)
    return None


def reading_plan(planned_steps: int, budget_minutes: float | None, pace: Pace | None) -> ReadingPlan:
    """Reading practice on when the night's budget, at the last measured pace, cannot cover the
    planned steps; off when there is no budget, no pace measured yet, or the steps fit."""
    if not budget_minutes:
        return ReadingPlan(0.0, "Reading practice: off (no time budget, every planned step runs).")
    if pace is None:
        return ReadingPlan(0.0, "Reading practice: off (no earlier night has measured this "
                                "model's training speed here yet).")
    fit = max(0, int((budget_minutes * 60 - pace.setup_seconds) / pace.seconds_per_step))
    if fit >= planned_steps:
        return ReadingPlan(0.0, f"Reading practice: off (the night's {budget_minutes:g} minutes cover "
                                f"all {planned_steps} planned steps).")
    return ReadingPlan(READING_SHARE_ON, f"Reading practice: on (the night's {budget_minutes:g} minutes "
                                         f"cover about {fit} of {planned_steps} planned steps, so most "
                                         "memories stay in chat's prompt).")
