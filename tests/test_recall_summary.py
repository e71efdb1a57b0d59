"""Recall per memory: every memory of a run is counted, a memory never probed is a failure."""

from __future__ import annotations

from app.learned_check import recall_summary
from ondevice import evaluation
from ondevice.engine import Engine, Usage
from ondevice.training.types import Probe


class ScriptedEngine(Engine):
    """A real Engine that answers each question from a script (the gate's reader is what we test)."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        pass

    @property
    def context_size(self) -> int:
        return 2048

    def count_tokens(self, messages):
        return sum(len(m["content"].split()) for m in messages)

    def stream(self, messages, options=None, cancel=None):
        yield self.answers.get(messages[-1]["content"], "I don't know.")
        yield Usage(1, 1, 1.0, 1.0, "stop")


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
