"""The evaluation gate: recall from the weights alone, drift against the base, and the decision.

Recall runs through the app's own engine (LlamaEngine) with no memories in the prompt. Drift is
the mean KL divergence of next-token distributions (base || candidate) on fixed generic texts;
its yardstick is the KL that Q4 quantization itself causes (F32 copy || Q4 base).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ondevice import json_cache
from ondevice.engine import Engine, GenerationOptions, Usage
from ondevice.training.types import Probe

# Drift may reach this many times the KL that Q4 quantization causes: an adapter that moves the
# model about as much as quantizing it is acceptable; the factor leaves room for learning facts.
DRIFT_FACTOR = 4.0
# ...and never less than this (nats/token): Q4_1's own KL can be tiny on some models.
DRIFT_FLOOR = 0.05
PROBE_MAX_TOKENS = 24  # enough for "Your cat is called Miso."
KL_CONTEXT = 256


# Expected answers that a habit can pass: an adapter that learned to open with "Yes" passes
# every "Did I tell you that ...?" probe (measured: 36 of the 37 memories a 200-memory night
# marked learned were yes-probes). They are asked and listed, but are no evidence of a fact.
YES_NO = frozenset({"yes", "no"})


def asks_for_a_fact(expected: str) -> bool:
    """A probe whose answer is a fact (a name, a place, a number), not yes or no."""
    return expected.strip().lower() not in YES_NO


def answered(expected: str, answer: str) -> bool:
    """Whether `answer` gives `expected`: a yes/no must open the answer ("no" is inside "not" and
    "know"); any other value may appear anywhere in it."""
    if asks_for_a_fact(expected):
        return expected.lower() in answer.lower()
    first = re.match(r"\W*(\w+)", answer)
    return bool(first) and first.group(1).lower() == expected.strip().lower()


@dataclass
class RecallResult:
    rate: float  # share of the probes asking for a fact whose answer gives it
    hits: int  # probes asking for a fact, answered
    total: int  # probes asking for a fact (yes/no probes are in `answers` only)
    answers: list[dict]  # {memory_id, question, expected, answer, hit}, every probe asked

    def recalled_memories(self) -> set[int]:
        """Memories whose every probe was answered, at least one of them asking for a fact."""
        every: dict[int, bool] = {}
        a_fact: set[int] = set()
        for row in self.answers:
            every[row["memory_id"]] = every.get(row["memory_id"], True) and row["hit"]
            if row["hit"] and asks_for_a_fact(row["expected"]):
                a_fact.add(row["memory_id"])
        return {memory for memory, ok in every.items() if ok and memory in a_fact}


def recall(
    engine: Engine,
    probes: list[Probe],
    system_prompt: str,
    should_stop: Callable[[], bool] | None = None,
) -> RecallResult:
    """Ask every probe (greedy, short) and check the answer gives the expected value.

    Args:
        engine: a loaded or loadable engine (base, or base + candidate adapter).
        probes: held-out questions.
        system_prompt: the system message to send (no memories for recall from weights).
        should_stop: checked between probes; True raises InterruptedError.

    Returns:
        The recall rate over probes asking for a fact, and every answer.
    """
    answers = []
    for probe in probes:
        if should_stop and should_stop():
            raise InterruptedError("evaluation cancelled")
        text = short_answer(engine, system_prompt, probe.question)
        hit = answered(probe.expected, text)
        answers.append({"memory_id": probe.memory_id, "question": probe.question,
                        "expected": probe.expected, "answer": text, "hit": hit})
    return result_of(answers)


def short_answer(engine: Engine, system_prompt: str, question: str) -> str:
    """The greedy, short answer the gate reads: `question` asked after `system_prompt` alone."""
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]
    options = GenerationOptions(max_tokens=PROBE_MAX_TOKENS)
    return "".join(p for p in engine.stream(messages, options) if not isinstance(p, Usage)).strip()


def result_of(answers: list[dict]) -> RecallResult:
    """The recall rate of probes already asked (rows as `recall` makes them)."""
    facts = [row for row in answers if asks_for_a_fact(row["expected"])]
    hits = sum(row["hit"] for row in facts)
    return RecallResult(hits / len(facts) if facts else 0.0, hits, len(facts), answers)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities of `logits` (last axis), in their own dtype."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _open_logits_model(model_path: Path, adapter_path: Path | None, n_threads: int | None):
    from llama_cpp import Llama

    kwargs = dict(model_path=str(model_path), n_ctx=KL_CONTEXT, n_batch=KL_CONTEXT,
                  logits_all=True, verbose=False, n_threads=n_threads, n_threads_batch=n_threads)
    if adapter_path is not None:
        kwargs.update(lora_path=str(adapter_path), lora_scale=1.0)
    return Llama(**kwargs)


def mean_kl(
    reference_path: Path,
    texts: list[str],
    candidate_path: Path | None = None,
    adapter_path: Path | None = None,
    n_threads: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> float:
    """Mean over all positions of KL(P_reference || P_candidate) for the next token.

    Args:
        reference_path: the reference GGUF (the base, or the F32 copy for the yardstick).
        texts: plain texts; both models see the same tokens (the reference's tokenizer).
        candidate_path: the candidate GGUF (default: the reference itself, used with an adapter).
        adapter_path: a LoRA applied to the candidate.
        n_threads: CPU threads.
        should_stop: checked between texts; True raises InterruptedError.

    Returns:
        Mean KL in nats per token.
    """
    reference = _open_logits_model(reference_path, None, n_threads)
    candidate = _open_logits_model(candidate_path or reference_path, adapter_path, n_threads)
    total, positions = 0.0, 0
    try:
        for text in texts:
            if should_stop and should_stop():
                raise InterruptedError("evaluation cancelled")
            tokens = reference.tokenize(text.encode("utf-8"), add_bos=True)[:KL_CONTEXT]
            logprobs = []
            for llama in (reference, candidate):
                llama.reset()
                llama.eval(tokens)
                logprobs.append(log_softmax(np.array(llama.scores[: len(tokens)], dtype=np.float64)))
            ref, cand = logprobs
            total += float((np.exp(ref) * (ref - cand)).sum())
            positions += len(tokens)
    finally:
        reference.close()
        candidate.close()
    return total / positions if positions else 0.0


def drift_texts() -> list[str]:
    from ondevice.training.replay import load_data

    return list(load_data("drift_texts.json")["texts"])


def quantization_yardstick(
    base_path: Path,
    base_sha256: str,
    cache_dir: Path,
    texts: list[str],
    n_threads: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> float:
    """KL(F32 copy || Q4 base) on `texts`: how far quantization alone moves the model.

    Cached per base sha256 and text set in `cache_dir` (the F32 copy is the trainer's cache).

    Returns:
        Mean KL in nats per token.
    """
    from ondevice.training.f32_copy import ensure_f32_copy

    key = json_cache.cache_key(texts)
    cache = Path(cache_dir) / f"yardstick-{base_sha256}.json"
    kept = json_cache.read(cache, key)
    if isinstance(kept, (int, float)):
        return float(kept)
    f32 = ensure_f32_copy(base_path, base_sha256, cache_dir)
    kl = mean_kl(f32, texts, candidate_path=base_path, n_threads=n_threads, should_stop=should_stop)
    json_cache.write(cache, key, kl)
    return kl


def drift_limit(yardstick: float) -> float:
    """The most drift a promotable adapter may cause."""
    return max(yardstick * DRIFT_FACTOR, DRIFT_FLOOR)


def decide(base_recall: float, adapter_recall: float, drift: float, yardstick: float,
           fact_probes: int | None = None) -> tuple[bool, str]:
    """The gate: promote only when recall improves over the base and drift stays under the limit.

    Args:
        fact_probes: how many probes asked for a fact; 0 means recall cannot be told apart from a
            habit of saying yes, so nothing is promoted (None: not known, not checked).

    Returns:
        (promote?, one sentence saying why).
    """
    limit = drift_limit(yardstick)
    if fact_probes == 0:
        return False, ("every held-out question could be answered yes or no, which cannot tell a learned "
                       "fact from a habit of saying yes, so the current adapter stays.")
    if adapter_recall <= base_recall:
        return False, (f"the adapter recalled {adapter_recall:.0%} of held-out questions, no better "
                       f"than the base model's {base_recall:.0%}, so the current adapter stays.")
    if drift > limit:
        return False, (f"the adapter drifted too far from the base model (KL {drift:.3f} > limit "
                       f"{limit:.3f}), so the current adapter stays.")
    return True, (f"recall rose from {base_recall:.0%} to {adapter_recall:.0%} with drift KL "
                  f"{drift:.3f} (limit {limit:.3f}).")


def decide_in_chat(base: RecallResult, adapter: RecallResult) -> tuple[bool, str]:
    """Chat must not get worse: with the prompt chat would send once the adapter is loaded, it
    answers at least as many held-out questions asking for a fact as the base model does with
    every memory in its prompt.

    Returns:
        (promote?, why not: "" when promoted).
    """
    if adapter.hits >= base.hits:
        return True, ""
    return False, (f"with the prompt chat sends, the adapter answered {adapter.rate:.0%} of held-out "
                   f"questions, below the base model's {base.rate:.0%} with every memory in its prompt, "
                   f"so the current adapter stays.")
