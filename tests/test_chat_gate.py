"""The gate's check in chat: an adapter that makes chat worse than the base model is not promoted.

After a night most memories stay in chat's prompt, so an adapter must still read them there. The
engines here are real Engine subclasses whose answers follow a rule (what the gate reads is what
we test); chat's prompts come from the real store and app.memory_context.
"""

from __future__ import annotations

from contextlib import nullcontext

from app import learning_gate, learning_job
from app.learning_gate import check_in_chat
from app.learning_job import JobOptions, run_learning_job
from app.learning_report import morning_report, recall_line
from app.run_report import IN_PROMPT, Recall, RunReport
from app.runs import TrainingRuns
from ondevice.adapters import AdapterRegistry
from ondevice.training.types import Probe
from tests.learning_helpers import ScriptedEngine, TinyRandomTrainer, add_memories

MEMORIES = ["My cat is called Miso", "I live in Lyon", "My sister's name is Ingrid"]


class RuleEngine(ScriptedEngine):
    """Answers a probe with its fact when the fact is in the system prompt (if it reads its
    prompt) or in `known` (its weights); otherwise it does not know."""

    def __init__(self, facts: dict[str, str], known: set[str] = frozenset(), reads_prompt: bool = True):
        super().__init__({})
        self.facts, self.known, self.reads_prompt = facts, known, reads_prompt
        self.systems: list[str] = []

    def answer(self, messages) -> str:
        system, fact = messages[0]["content"], self.facts.get(messages[-1]["content"], "")
        self.systems.append(system)
        shown = self.reads_prompt and fact and fact in system
        return f"It is {fact}." if fact and (fact in self.known or shown) else "I don't know."


def _probes(ids):
    return [Probe(ids[0], "What do I call my cat?", "Miso"), Probe(ids[0], "Who is Miso?", "cat"),
            Probe(ids[1], "Which city is home?", "Lyon"), Probe(ids[2], "Who is Ingrid?", "sister")]


def _check(app, adapter: RuleEngine, base: RuleEngine, ids, **limit):
    engines = {"adapter.gguf": adapter, None: base}
    return check_in_chat(lambda path: nullcontext(engines[path]), "adapter.gguf", app.store, _probes(ids),
                         recalled_bare={ids[0]}, stop=lambda: False, emit=lambda event: None, **limit)


def test_an_adapter_that_still_reads_its_prompt_is_promoted_and_its_memory_leaves_the_prompt(app):
    ids = add_memories(app, MEMORIES)
    facts = {p.question: p.expected for p in _probes(ids)}
    adapter, base = RuleEngine(facts, known={"Miso", "cat"}), RuleEngine(facts)
    check = _check(app, adapter, base, ids)
    assert check.promote and check.reason == "" and check.learned == {ids[0]}
    assert (check.adapter.hits, check.base.hits, check.adapter.total) == (4, 4, 4)
    # The base model was asked with every memory in chat's prompt; the adapter without the cat.
    assert all("Miso" in system for system in base.systems)
    assert not any("Miso" in system for system in adapter.systems[-4:])


def test_an_adapter_that_stopped_reading_its_prompt_is_not_promoted_and_says_why(app):
    ids = add_memories(app, MEMORIES)
    facts = {p.question: p.expected for p in _probes(ids)}
    adapter = RuleEngine(facts, known={"Miso", "cat"}, reads_prompt=False)
    check = _check(app, adapter, RuleEngine(facts), ids)
    assert not check.promote and check.learned == {ids[0]}  # it did learn the cat, from its weights
    assert (check.adapter.hits, check.base.hits) == (2, 4)
    assert check.reason == ("with the prompt chat sends, the adapter answered 50% of held-out questions, "
                            "below the base model's 100% with every memory in its prompt, so the current "
                            "adapter stays.")


def test_the_report_keeps_both_chat_rates_and_says_them():
    report = RunReport("succeeded", recall=Recall(0.5, 0.0, 4), chat_recall=Recall(0.75, 0.5, 4),
                       recall_in_chat=0.25)
    stored = RunReport.from_dict(report.to_dict())
    assert stored.chat_recall == Recall(0.75, 0.5, 4)
    assert recall_line(stored) == (
        "Recall from the weights alone: 50% (base model 0%, 4 held-out questions asking for a fact). "
        "With the prompt chat sends, on 4 of them: 75% (base model with every memory in its prompt 50%); "
        "memories answered in chat from the weights: 25%.")
    assert RunReport.from_dict({"status": "rejected", "chat_recall": "odd"}).chat_recall is None


def test_a_large_night_compares_the_two_models_on_an_even_sample_of_its_probes(app):
    ids = add_memories(app, MEMORIES)
    facts = {p.question: p.expected for p in _probes(ids)}
    base = RuleEngine(facts)
    check = _check(app, RuleEngine(facts, known={"Miso", "cat"}), base, ids, compare_at_most=2)
    assert check.learned == {ids[0]}  # every probe still decides which memories leave the prompt
    assert [row["question"] for row in check.base.answers] == ["What do I call my cat?", "Which city is home?"]
    assert [row["question"] for row in check.adapter.answers] == [row["question"] for row in check.base.answers]


class MemoryReader(ScriptedEngine):
    """Answers every question with what it has: the memories it `knows` (its weights), then the
    memory lines of its system prompt if it reads its prompt. So a memory's probes pass when the
    memory is in either, whatever the job's probes ask."""

    def __init__(self, knows: list[str] = (), reads_prompt: bool = True):
        super().__init__({})
        self.knows, self.reads_prompt = list(knows), reads_prompt

    def answer(self, messages) -> str:
        shown = [line[2:] for line in messages[0]["content"].splitlines() if line.startswith("- ")]
        said = self.knows + (shown if self.reads_prompt else [])
        return " ".join(said) or "I don't know."


def test_the_job_rejects_an_adapter_that_recalls_from_its_weights_but_stopped_reading_its_prompt(
        app, shared_training_cache, monkeypatch):
    """The whole job with a real (tiny random) trainer and real drift: the adapter knows the cat
    from its weights, which beats the base model bare, but it no longer reads its prompt, so in
    chat it loses Lyon, which the base model reads there. The job must not promote it."""
    ids = add_memories(app, ["My cat is called Miso", "I live in Lyon"])
    adapter, base = MemoryReader(knows=["Your cat is called Miso."], reads_prompt=False), MemoryReader()

    def engines(model, adapter_path, threads):
        return nullcontext(adapter if adapter_path else base)

    monkeypatch.setattr(learning_gate, "candidate_engine", engines)  # the gate's recall from the weights
    monkeypatch.setattr(learning_job, "candidate_engine", engines)  # the check in chat
    report = run_learning_job(app, options=JobOptions(replay_limit=2, drift_text_limit=2,
                                                      trainer_cls=TinyRandomTrainer))
    assert report.recall.adapter > report.recall.base == 0  # it passed on the weights (and on drift)
    assert report.status == "rejected"
    assert report.reason.startswith("with the prompt chat sends, the adapter answered ")
    assert report.chat_recall.adapter < report.chat_recall.base == 1.0
    assert AdapterRegistry(app.store, app.home).list() == []
    assert [(m.memory_id, m.outcome) for m in report.memory_results] == [(ids[0], IN_PROMPT), (ids[1], IN_PROMPT)]
    stored = TrainingRuns(app.store).last_report()
    assert stored.chat_recall == report.chat_recall
    assert "below the base model's 100% with every memory in its prompt" in morning_report(stored)
