"""A gentler adapter when the trained one drifts too far or costs general answers: the same LoRA
at a lower strength.

Scaling a LoRA's change moves the model back along the straight line to the base, as WiSE-FT
interpolates fine-tuned and base weights: drift falls faster than the strength (half strength
gave 41% of the drift in tests/test_adapter_strength.py), while facts learned with margin stay
recalled. The job tries this only when an adapter recalls better than the base and fails the
gate on drift or on general questions, before throwing the night away: a 100-memory night that
answered 47 of 124 general questions (base 62) answered 69 at 70% strength.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.run_report import StrengthTrial
from ondevice.training.gguf_lora import write_at_strength

STRENGTHS = (0.7, 0.5, 0.35)  # strongest first: the first that passes keeps the most
STEP = 0.05  # a trimmed strength is a multiple of this, so reports read 95%, 90%, ...


def trimmed_strength(full_drift: float | None, limit: float) -> float | None:
    """The strength to try first when an adapter drifts only a little too far, or None.

    Drift falls at least in proportion to strength (0.41 of it at half strength in
    tests/test_adapter_strength.py; 0.51 at 70% on a real 100-memory night), so limit/drift,
    rounded down, is expected to pass, and keeps far more than the 70% copy would: that night's
    70% copy halved the drift (0.051 to 0.026) and recalled 10% of the probes, not 29%.
    Its drift is still measured; None when that strength is no stronger than STRENGTHS[0].
    """
    if not full_drift or full_drift <= limit:
        return None
    strength = round(int(limit / full_drift / STEP) * STEP, 2)
    return strength if strength > STRENGTHS[0] else None


@dataclass
class Gentler:
    strength: float
    path: Path
    drift: float
    recall: object  # the evaluation's recall result at this strength
    general: object | None = None  # the general check at this strength, when one was asked


def gentler_adapter(
    path: Path,
    work_dir: Path,
    base_rate: float,
    limit: float,
    measure_drift: Callable[[Path], float],
    measure_recall: Callable[[Path], object],
    tried: list[StrengthTrial] | None = None,
    full_drift: float | None = None,
    check_general: Callable[[Path], object] | None = None,
) -> Gentler | None:
    """The strongest copy whose drift is under `limit`, whose recall (`.rate`) still beats the
    base model's and, when `check_general` is given, whose general answers pass (its result's
    `.passed`), or None when there is none: first the trimmed strength `full_drift` (the
    adapter's own drift) suggests, then STRENGTHS. Each copy measured is appended to `tried`
    (the report shows them)."""
    tried = [] if tried is None else tried
    trimmed = trimmed_strength(full_drift, limit)
    for strength in ((trimmed,) if trimmed else ()) + STRENGTHS:
        candidate = write_at_strength(path, strength, Path(work_dir) / f"adapter-{strength:g}.gguf")
        drift = measure_drift(candidate)
        tried.append(StrengthTrial(strength, drift))
        if drift > limit:
            continue
        recall = measure_recall(candidate)
        tried[-1].recall = recall.rate
        if recall.rate <= base_rate:
            return None  # a weaker copy recalls less still
        general = check_general(candidate) if check_general else None
        if general is not None:
            tried[-1].general = general.adapter
            if not general.passed:
                continue  # general answers come back as the strength falls
        return Gentler(strength, candidate, drift, recall, general)
    return None
