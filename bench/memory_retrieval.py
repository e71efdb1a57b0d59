"""How often chat's prompt holds the memory a development-set question is about.

Chat shows the memories app.memory_context finds most related to the message, within the
prompt's memory budget. A model cannot answer from a memory it is not shown, so this hit rate
bounds recall in chat. No generation: only the tokenizer runs. Rounds 13-16 of the set were
written after the retrieval's word lists and are reported apart as held out.

    .venv/bin/python bench/memory_retrieval.py [--memories 20 100 208]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import devset  # noqa: E402

TUNED_ON = 156  # rounds 1-12: the misses the related-word list was written from


def hit_rates(n: int, count_tokens) -> dict[str, tuple[int, int]]:
    from app.chat import ChatSettings
    from app.context import Nocturne
    from app.memory_context import memories_for_prompt
    from tests.learning_helpers import add_memories

    memories = devset.first(n)
    app = Nocturne(Path(tempfile.mkdtemp(prefix="nocturne-retrieval-")))
    try:
        add_memories(app, [m.text for m in memories])
        ids = {row["text"]: row["id"] for row in app.store.query("SELECT id, text FROM memories")}
        rates: dict[str, list[int]] = {}
        for i, memory in enumerate(memories):
            part = "rounds 1-12 (tuned on)" if i < TUNED_ON else "rounds 13-16 (held out)"
            for question in memory.questions:
                shown = memories_for_prompt(app.store, question.question, count_tokens,
                                            ChatSettings().memory_budget, set())
                tally = rates.setdefault(part, [0, 0])
                tally[0] += ids[memory.text] in {memory_id for memory_id, _ in shown}
                tally[1] += 1
    finally:
        app.close()
    return {part: (hits, total) for part, (hits, total) in rates.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, nargs="+", default=[20, 100, 208])
    args = parser.parse_args()
    from app.context import Nocturne
    from app.learning_job import token_counter

    app = Nocturne(Path(tempfile.mkdtemp(prefix="nocturne-retrieval-")))
    try:
        count = token_counter(app.model().path)  # the job's own counter: the base model's vocab
    finally:
        app.close()
    for n in args.memories:
        rates = hit_rates(n, count)
        print(f"N={n}: the question's memory in chat's prompt: " + ", ".join(
            f"{part} {hits}/{total} = {hits / total:.0%}" for part, (hits, total) in rates.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
