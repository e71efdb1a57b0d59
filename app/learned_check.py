"""Which memories a new adapter really knows in chat, so they may leave the prompt.

The gate asks its probes with a bare system prompt. In chat, the memories the adapter has not
learned are still in the system prompt, and with the bundled 135M model they can pull an answer
to the wrong fact (measured: "Where do I live?" gave the hometown instead of the city once the
other memories were in the prompt). So a memory counts as learned only if its probes still pass
with the prompt the chat would send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from app.chat import ChatSettings
from app.memory_context import memories_for_prompt
from app.prompt import system_message
from ondevice import evaluation
from ondevice.engine import Engine
from ondevice.training.types import Probe

MAX_PASSES = 3  # each pass can move memories back into the prompt, which changes the prompts


def learned_in_chat(
    engine: Engine,
    store,
    probes: list[Probe],
    recalled: set[int],
    should_stop: Callable[[], bool] | None = None,
) -> set[int]:
    """The subset of `recalled` whose probes all pass with chat's prompts.

    Args:
        engine: the base model with the candidate adapter, loaded.
        store: the app's Store (approved memories, for the prompts).
        probes: the held-out probes.
        recalled: memories learned from the weights (learned_from_weights).
        should_stop: checked between probes.

    Returns:
        Memory ids that may leave the prompt.
    """
    learned = set(recalled)
    for _ in range(MAX_PASSES):
        failed = set()
        for probe in probes:
            if probe.memory_id not in learned or probe.memory_id in failed:
                continue
            system = chat_system(engine, store, probe.question, skip=learned)
            if not evaluation.recall(engine, [probe], system, should_stop).answers[0]["hit"]:
                failed.add(probe.memory_id)
        if not failed:
            break
        learned -= failed
    return learned


def chat_system(engine: Engine, store, question: str, skip: set[int]) -> str:
    """The system message chat would send with `question`, the memories in `skip` left out."""
    def count_tokens(text: str) -> int:
        return engine.count_tokens([{"role": "user", "content": text}])

    shown = memories_for_prompt(store, question, count_tokens, ChatSettings().memory_budget, skip=skip)
    return system_message([text for _, text in shown])["content"]


def recall_in_chat(engine: Engine, store, probes: list[Probe], skip: set[int],
                   should_stop: Callable[[], bool] | None = None) -> evaluation.RecallResult:
    """Every probe asked with the prompt chat would send, the memories in `skip` left out of it.

    Args:
        engine: the model to ask, loaded (the base model, or the base with a candidate adapter).
        store: the app's Store (approved memories, for the prompts).
        probes: the held-out probes.
        skip: memories chat would leave out of the prompt (those the adapter learned; none for
            the base model).
        should_stop: checked between probes.
    """
    answers = []
    for probe in probes:
        system = chat_system(engine, store, probe.question, skip)
        answers += evaluation.recall(engine, [probe], system, should_stop).answers
    return evaluation.result_of(answers)


def learned_from_weights(adapter: evaluation.RecallResult, base: evaluation.RecallResult) -> set[int]:
    """Memories the adapter answers from its weights that the base model did not already answer.

    Every probe of the memory passes, and at least one probe asking for a fact passes that the base
    model failed: a guess the base model makes too ("Do I eat meat?" "No.") is no evidence.

    Args:
        adapter: the adapter's answers to the probes, bare.
        base: the base model's answers to the same probes, bare (in the same order).
    """
    shown: set[int] = set()
    for mine, theirs in zip(adapter.answers, base.answers):
        if mine["hit"] and not theirs["hit"] and evaluation.asks_for_a_fact(mine["expected"]):
            shown.add(mine["memory_id"])
    return adapter.recalled_memories() & shown


@dataclass(frozen=True)
class MemoryRecall:
    """Where one memory lives after a run: in the adapter's weights or still in the prompt."""

    memory_id: int
    probes: int  # held-out probes asked (0: never probed, counted as not recalled)
    bare_hits: int  # probes answered from the weights alone
    in_weights: bool  # recalled with chat's prompt too: it may leave the prompt


@dataclass(frozen=True)
class RecallSummary:
    """Recall per memory, over every memory of the run: one never probed counts as a failure."""

    memories: list[MemoryRecall]
    bare_rate: float  # share of memories whose every probe passed from the weights alone (one a fact)
    chat_rate: float  # share of memories that also pass with chat's prompt (learned in chat)
    untested: list[int]  # memories that got no probe (too long, a secret): failures, listed


def recall_summary(memory_ids: list[int], bare: evaluation.RecallResult, in_chat: set[int]) -> RecallSummary:
    """Per-memory recall of a run.

    Args:
        memory_ids: every memory the run was asked to learn.
        bare: the adapter's answers to the probes with the bare prompt.
        in_chat: memories recalled with chat's prompt (learned_in_chat), empty if not asked.
    """
    asked: dict[int, list[bool]] = {}
    for row in bare.answers:
        asked.setdefault(row["memory_id"], []).append(row["hit"])
    rows = [MemoryRecall(m, len(asked.get(m, [])), sum(asked.get(m, [])), m in in_chat) for m in memory_ids]
    total = len(rows) or 1
    recalled = bare.recalled_memories()  # every probe passed, one of them asking for a fact
    return RecallSummary(
        rows, sum(1 for r in rows if r.memory_id in recalled) / total,
        sum(1 for r in rows if r.in_weights) / total, [r.memory_id for r in rows if not r.probes])
