"""What the training generator makes of the development set, without training (seconds).

For the first N dev memories: how many get a training question and a probe, question examples,
personal training tokens, per-shape coverage, how many have no probe asking for a fact (so can
never leave chat's prompt), and how many of the dev set's own questions the
generator trains word for word (those are not transfer). Prints one JSON line per N.

Usage: .venv/bin/python bench/training_set.py [--memories 20 156]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import devset  # noqa: E402  (after the path: run as a script)


def coverage(n: int) -> dict:
    from llama_cpp import Llama

    from app.prompt import SYSTEM_PROMPT, system_message
    from ondevice.models import bundled_model_path
    from ondevice.evaluation import asks_for_a_fact
    from ondevice.training.dataset import ChatTemplate, build_training_set

    path = bundled_model_path()
    vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
    memories = devset.first(n)
    dataset, built = build_training_set(
        [(i, m.text) for i, m in enumerate(memories, 1)], ChatTemplate.from_gguf(path), SYSTEM_PROMPT,
        lambda text: len(vocab.tokenize(text.encode(), add_bos=False, special=True)),
        system_with_memories=lambda texts: system_message(texts)["content"])
    asked = {e.messages[1]["content"].lower() for e in dataset.examples if e.source == "memory"}
    taught = {e.memory_id for e in dataset.examples if e.source == "memory"}
    shapes: dict[str, list[int]] = {}
    for i, memory in enumerate(memories, 1):
        tally = shapes.setdefault(memory.shape, [0, 0])
        tally[0] += i in taught
        tally[1] += 1
    dev_questions = [q.question.lower() for m in memories for q in m.questions]
    # A memory leaves chat's prompt only on a probe asking for a fact (a yes/no is no evidence).
    fact_probed = {p.memory_id for p in dataset.probes if asks_for_a_fact(p.expected)}
    return {
        "memories": n, "with_a_question": len(taught), "probed": len({p.memory_id for p in dataset.probes}),
        "question_examples": built.counts.get("memory", 0), "reading_practice": built.reading_practice,
        "probes": len(dataset.probes), "no_fact_probe": len(memories) - len(fact_probed),
        "personal_tokens": built.tokens.get("memory", 0) + built.tokens.get("statement", 0),
        "dev_questions_trained_verbatim": f"{sum(q in asked for q in dev_questions)} of {len(dev_questions)}",
        "probes_in_training": sum(p.question.lower() in asked for p in dataset.probes),
        "taught_by_shape": {shape: f"{a}/{b}" for shape, (a, b) in sorted(shapes.items())},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", nargs="+", type=int, default=[20, 156])
    for n in parser.parse_args().memories:
        print(json.dumps(coverage(n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
