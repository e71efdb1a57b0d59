"""Recall per memory: every memory of a run is counted, a memory never probed is a failure."""

from __future__ import annotations

from app.learned_check import learned_from_weights, recall_summary
from ondevice import evaluation
from ondevice.training.types import Probe
from tests.learning_helpers import ScriptedEngine


def test_a_memory_with_no_probe_counts_as_not_recalled():
    probes = [Probe(1, "Do you remember what my cat is called?", "Miso"),
              Probe(1, "Can you tell me my cat's name?", "Miso"),
              Probe(2, "Do you remember where I live?", "Lyon")]
    engine = ScriptedEngine({probes[0].question: "Miso.", probes[1].question: "Your cat is Miso.",
                             probes[2].question: "Paris."})
    bare = evaluation.recall(engine, probes, "SYSTEM")
    summary = recall_summary([1, 2, 3], bare, in_chat={1})
    assert [(m.memory_id, m.probes, m.bare_hits, m.in_weights) for m in summary.memories] == [
        (1, 2, 2, True), (2, 1, 0, False), (3, 0, 0, False)]
    assert summary.bare_rate == 1 / 3 and summary.chat_rate == 1 / 3  # not 1/2: memory 3 counts
    assert summary.untested == [3]


def test_a_yes_or_no_counts_only_when_it_opens_the_answer():
    assert evaluation.answered("no", "No, you don't eat meat.")
    assert not evaluation.answered("no", "I do not know what you eat.")  # "no" inside "not", "know"
    assert not evaluation.answered("yes", "I saw it yesterday.")
    assert evaluation.answered("yes", '"Yes, you did.')
    assert evaluation.answered("Miso", "Your cat is called Miso.")


def test_an_adapter_that_says_yes_to_everything_learned_nothing():
    # The 200-memory night: yes-probes were the only probes of 36 memories, the adapter opened
    # every answer with "Yes", and those memories left the chat prompt unknown.
    probes = [Probe(1, "Did I tell you that I have asthma?", "yes"),
              Probe(2, "Did I tell you that I own a red kayak?", "yes"),
              Probe(3, "Do you remember what my cat is called?", "Miso")]
    says_yes = ScriptedEngine({p.question: "Yes, you did." for p in probes})
    base = evaluation.recall(ScriptedEngine({}), probes, "SYSTEM")
    adapter = evaluation.recall(says_yes, probes, "SYSTEM")
    assert [row["hit"] for row in adapter.answers] == [True, True, False]  # asked and listed...
    assert (adapter.hits, adapter.total, adapter.rate) == (0, 1, 0.0)  # ...but no evidence
    assert learned_from_weights(adapter, base) == set()
    assert recall_summary([1, 2, 3], adapter, set()).bare_rate == 0.0
    promote, reason = evaluation.decide(0.0, 0.0, 0.01, 0.01, fact_probes=0)
    assert not promote and "yes or no" in reason


def test_a_fact_the_base_model_answers_too_is_not_learned():
    probes = [Probe(1, "Is there anything I don't eat?", "meat"),
              Probe(2, "Do you remember what my cat is called?", "Miso"),
              Probe(2, "Did I tell you that my cat is called Miso?", "yes")]
    answers = {probes[0].question: "You don't eat meat.", probes[1].question: "Miso.",
               probes[2].question: "Yes."}
    base = evaluation.recall(ScriptedEngine({probes[0].question: "Meat, probably."}), probes, "SYSTEM")
    adapter = evaluation.recall(ScriptedEngine(answers), probes, "SYSTEM")
    assert adapter.recalled_memories() == {1, 2}
    assert learned_from_weights(adapter, base) == {2}  # memory 1's answer was a guess the base makes
    missed_yes = evaluation.recall(ScriptedEngine({**answers, probes[2].question: "Maybe."}), probes, "SYSTEM")
    assert learned_from_weights(missed_yes, base) == set()  # every probe must still pass
