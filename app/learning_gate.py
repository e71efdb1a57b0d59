"""The gate a trained adapter must pass before it is promoted: recall from the weights alone (no
memories in the prompt) above the base model's, drift from the base under the limit, and no
clearly fewer general questions answered right than the base model (check_general), with a
weaker copy of the adapter tried when it fails on drift or general answers alone
(app/adapter_strength.py); then, in chat, recall with the prompt chat would send no lower than
the base model's with every memory in its prompt (check_in_chat)."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from app.adapter_strength import gentler_adapter
from app.learned_check import learned_in_chat, recall_in_chat
from app.prompt import SYSTEM_PROMPT
from app.run_report import GeneralAnswers, Recall, RunReport, StrengthTrial
from ondevice import evaluation, general_check
from ondevice.engine import Engine
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
    general: object | None = None  # the general check of the copy kept (or that failed), when asked
    full_strength_general: int | None = None  # general questions right at full strength, when a copy was kept


    def record(self, report: RunReport) -> None:
        """Write what the gate measured into the run's report (the one place that maps it)."""
        report.reason = self.reason
        report.adapter_strength, report.full_strength_drift_kl = self.strength, self.full_strength_drift
        report.full_strength_general, report.strengths_tried = self.full_strength_general, self.tried
        if self.general is not None:
            g = self.general
            report.general_answers = GeneralAnswers(g.adapter, g.base, g.questions, g.lost, g.gained)
        if self.adapter is None:
            return
        report.recall = Recall(adapter=self.adapter.rate, base=self.base.rate, probes=self.adapter.total)
        report.drift_kl, report.yardstick_kl = self.drift, self.yardstick
        report.drift_limit = evaluation.drift_limit(self.yardstick)
        report.probe_answers = [{**row, "base_answer": b["answer"]}
                                for row, b in zip(self.adapter.answers, self.base.answers)]


GeneralCheck = Callable[[Path], general_check.GeneralComparison]


def run_gate(model, trained_path: Path, probes, work: Path, cache: Path, threads, stop: Callable[[], bool],
             emit: Callable[[dict], None], drift_text_limit: int | None = None,
             check_general_of: GeneralCheck | None = None) -> GateResult:
    """Measure the trained adapter against the base model and decide. With `check_general_of`
    (the job's: check_general on an adapter file), general answers are checked too."""
    emit({"stage": "evaluate", "step": 0, "total": 7, "message": "base model recall"})
    base = recall_with(model, None, probes, threads, stop)
    emit({"stage": "evaluate", "step": 1, "total": 7, "message": "adapter recall"})
    try:
        adapter = recall_with(model, trained_path, probes, threads, stop)
    except Exception as exc:  # an adapter the app's engine cannot load is rejected, not promoted
        return GateResult(False, f"the new adapter could not be loaded ({exc}).", None)
    texts = evaluation.drift_texts()[:drift_text_limit]

    def drift_of(path: Path) -> float:
        return evaluation.mean_kl(model.path, texts, adapter_path=path, n_threads=threads, should_stop=stop)

    emit({"stage": "evaluate", "step": 2, "total": 7, "message": "drift"})
    drift = drift_of(trained_path)
    emit({"stage": "evaluate", "step": 3, "total": 7, "message": "quantization yardstick"})
    yardstick = evaluation.quantization_yardstick(model.path, model.sha256, cache, texts, threads, stop)
    promote, reason = evaluation.decide(base.rate, adapter.rate, drift, yardstick, adapter.total)
    result = GateResult(promote, reason, trained_path, base, adapter, drift, yardstick)
    if promote and check_general_of is not None:
        result.general = check_general_of(trained_path)
        result.promote = result.general.passed
        result.reason = reason if result.promote else result.general.reason()
    if result.promote or adapter.rate <= base.rate:
        return result
    emit({"stage": "evaluate", "step": 3, "total": 7, "message": "a gentler adapter"})  # drift or general failed
    gentler = gentler_adapter(trained_path, work, base.rate, evaluation.drift_limit(yardstick), drift_of,
                              lambda path: recall_with(model, path, probes, threads, stop), result.tried, drift,
                              check_general_of)
    if gentler is None:
        return result
    promote, reason = evaluation.decide(base.rate, gentler.recall.rate, gentler.drift, yardstick,
                                       gentler.recall.total)
    return GateResult(promote, reason, gentler.path, base, gentler.recall, gentler.drift, yardstick,
                      gentler.strength, drift, result.tried, gentler.general,
                      result.general.adapter if result.general is not None else None)


# Probes both models answer with chat's prompt: all 153 of a 100-memory night took 5.5 minutes
# (measured); a paired comparison on this many tells a worse reader apart well enough.
CHAT_CHECK_PROBES = 64


@dataclass
class ChatCheck:
    """The gate's check in chat, on an adapter that passed on the weights and on drift."""

    learned: set[int]  # memories the adapter answers with chat's prompt: they leave the prompt
    adapter: evaluation.RecallResult  # the adapter, with chat's prompt once those have left it
    base: evaluation.RecallResult  # the base model, with every memory in chat's prompt (same probes)
    promote: bool
    reason: str  # why not, when not promoted


def check_in_chat(open_engine: Callable[[Path | None], AbstractContextManager[Engine]], adapter_path: Path,
                  store, probes, recalled_bare: set[int], stop: Callable[[], bool],
                  emit: Callable[[dict], None], compare_at_most: int = CHAT_CHECK_PROBES) -> ChatCheck:
    """Which memories leave the prompt, and whether chat with the adapter is at least as good.

    Most memories stay in chat's prompt after a night (at 100 memories, all but a few), so an
    adapter that reads its prompt worse than the base model would make chat worse even with
    more recalled from its weights.

    Args:
        open_engine: a loaded engine on the base model, with the adapter at the path given (None:
            the base model alone), as a context manager.
        adapter_path: the adapter the gate would promote.
        store: the app's Store (approved memories, for chat's prompts).
        probes: the held-out probes (every one decides which memories leave the prompt).
        recalled_bare: memories recalled from the weights alone (learned_from_weights).
        compare_at_most: how many of the probes, spread evenly, compare the two models.
    """
    emit({"stage": "evaluate", "step": 5, "total": 7, "message": "recall in chat"})
    compared = probes[::math.ceil(len(probes) / max(1, compare_at_most)) or 1]  # spread over the memories
    with open_engine(adapter_path) as candidate:
        learned = learned_in_chat(candidate, store, probes, recalled_bare, stop)
        adapter = recall_in_chat(candidate, store, compared, learned, stop)
    emit({"stage": "evaluate", "step": 6, "total": 7, "message": "base model in chat"})
    with open_engine(None) as base_engine:
        base = recall_in_chat(base_engine, store, compared, set(), stop)
    promote, reason = evaluation.decide_in_chat(base, adapter)
    return ChatCheck(learned, adapter, base, promote, reason)


def check_general(open_engine: Callable[[Path | None], AbstractContextManager[Engine]], adapter_path: Path,
                  base_sha256: str, cache: Path, stop: Callable[[], bool],
                  emit: Callable[[dict], None]) -> general_check.GeneralComparison:
    """The shipped general questions asked of the base model (cached in `cache` per base model)
    and of the adapter the gate would promote, bare; `.passed` says whether it may be promoted."""
    questions = general_check.general_questions()
    emit({"stage": "evaluate", "step": 4, "total": 7, "message": "general questions"})
    base = general_check.base_right_answers(lambda: open_engine(None), base_sha256, cache, questions,
                                            SYSTEM_PROMPT, stop)
    with open_engine(adapter_path) as candidate:
        adapter = general_check.right_answers(candidate, questions, SYSTEM_PROMPT, stop)
    return general_check.compare(base, adapter)


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
