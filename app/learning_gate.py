"""The gate a trained adapter must pass before it is promoted: recall from the weights alone (no
memories in the prompt) above the base model's, and drift from the base under the limit, with a
weaker copy of the adapter tried when it fails on drift alone (app/adapter_strength.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from app.adapter_strength import gentler_adapter
from app.prompt import SYSTEM_PROMPT
from app.run_report import StrengthTrial
from ondevice import evaluation
from ondevice.llama_engine import LlamaEngine


@dataclass
class GateResult:
    promote: bool
    reason: str
    adapter_path: Path | None  # the file to promote (a weaker copy, or the trained one)
    base: object | None = None  # evaluation recall results, None when the adapter did not load
    adapter: object | None = None
    drift: float | None = None
    yardstick: float | None = None
    strength: float | None = None  # set when a weaker copy was kept
    full_strength_drift: float | None = None
    tried: list[StrengthTrial] = field(default_factory=list)  # the weaker copies measured


def run_gate(model, trained_path: Path, probes, work: Path, cache: Path, threads, stop: Callable[[], bool],
             emit: Callable[[dict], None], drift_text_limit: int | None = None) -> GateResult:
    """Measure the trained adapter against the base model and decide."""
    emit({"stage": "evaluate", "step": 0, "total": 5, "message": "base model recall"})
    base = recall_with(model, None, probes, threads, stop)
    emit({"stage": "evaluate", "step": 1, "total": 5, "message": "adapter recall"})
    try:
        adapter = recall_with(model, trained_path, probes, threads, stop)
    except Exception as exc:  # an adapter the app's engine cannot load is rejected, not promoted
        return GateResult(False, f"the new adapter could not be loaded ({exc}).", None)
    texts = evaluation.drift_texts()[:drift_text_limit]

    def drift_of(path: Path) -> float:
        return evaluation.mean_kl(model.path, texts, adapter_path=path, n_threads=threads, should_stop=stop)

    emit({"stage": "evaluate", "step": 2, "total": 5, "message": "drift"})
    drift = drift_of(trained_path)
    emit({"stage": "evaluate", "step": 3, "total": 5, "message": "quantization yardstick"})
    yardstick = evaluation.quantization_yardstick(model.path, model.sha256, cache, texts, threads, stop)
    promote, reason = evaluation.decide(base.rate, adapter.rate, drift, yardstick, adapter.total)
    result = GateResult(promote, reason, trained_path, base, adapter, drift, yardstick)
    if promote or adapter.rate <= base.rate:
        return result
    emit({"stage": "evaluate", "step": 3, "total": 5, "message": "a gentler adapter"})  # drift alone failed
    gentler = gentler_adapter(trained_path, work, base.rate, evaluation.drift_limit(yardstick), drift_of,
                              lambda path: recall_with(model, path, probes, threads, stop), result.tried)
    if gentler is None:
        return result
    promote, reason = evaluation.decide(base.rate, gentler.recall.rate, gentler.drift, yardstick,
                                       gentler.recall.total)
    return GateResult(promote, reason, gentler.path, base, gentler.recall, gentler.drift, yardstick,
                      gentler.strength, drift, result.tried)


@contextmanager
def candidate_engine(model, adapter_path, threads):
    """The app's engine on the base model, with the candidate adapter when given, loaded."""
    engine = LlamaEngine(model, adapter_path=adapter_path, adapter_version="candidate" if adapter_path else None,
                         n_threads=threads)
    try:
        engine.load()
        yield engine
    finally:
        engine.close()


def recall_with(model, adapter_path, probes, threads, stop, system_prompt: str = SYSTEM_PROMPT):
    """Recall on `probes` of the base model, or of the base with `adapter_path`, bare."""
    with candidate_engine(model, adapter_path, threads) as engine:
        return evaluation.recall(engine, probes, system_prompt, should_stop=stop)
