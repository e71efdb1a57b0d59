"""How much of the development set the model answers when its prompt holds the one memory asked
about, and nothing else: the most that finding memories better could give chat, and a yardstick
for what the weights are asked to do (recall a fact in a person's words, with no prompt at all).

Asks every development-set question of the first N memories with chat's system prompt holding
only that question's own memory (as chat words it), then with no memory at all, of the bundled
model and of each adapter given (a version's adapter.gguf in a bench data folder). Prints recall
per model and per shape.

    .venv/bin/python bench/reading_ceiling.py [--memories 100] [ADAPTER.gguf ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import devset  # noqa: E402  (after the path: run as a script)
from bench.learning import _answers, _regroup  # noqa: E402


def ask(engine, memories: list[devset.DevMemory]) -> dict[str, devset.DevScore]:
    """Every question with only its own memory in the prompt, then with none."""
    from app.prompt import SYSTEM_PROMPT, system_message

    own = {q.question: m.text for m in memories for q in m.questions}
    questions = list(own)
    conditions = {"own memory only": lambda q: system_message([own[q]])["content"],
                  "no memory": lambda q: SYSTEM_PROMPT}
    out = {}
    for label, system_for in conditions.items():
        out[label] = devset.score(memories, _regroup(memories, _answers(engine, questions, system_for)))
        print(f"  {label}: {out[label].rate:.0%}", file=sys.stderr, flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapters", nargs="*", type=Path, help="adapter GGUFs of the bundled model")
    parser.add_argument("--memories", type=int, default=100, help="how many dev memories (20 to 208)")
    args = parser.parse_args()
    for path in args.adapters:
        if not path.is_file():
            parser.error(f"no adapter file at {path}")

    from app.context import Nocturne
    from ondevice.llama_engine import LlamaEngine

    memories = devset.first(args.memories)
    with tempfile.TemporaryDirectory(prefix="nocturne-reading-") as home:
        app = Nocturne(Path(home))
        try:
            model, threads = app.model(), app.settings.get("threads")
        finally:
            app.close()
        results = {}
        for label, path in [("base", None)] + [(p.parent.name or str(p), p) for p in args.adapters]:
            print(label, file=sys.stderr, flush=True)
            engine = LlamaEngine(model, adapter_path=path, adapter_version=label if path else None, n_threads=threads)
            engine.load()
            try:
                results[label] = ask(engine, memories)
            finally:
                engine.close()

    count = sum(len(m.questions) for m in memories)
    print(f"{model.path.name}, {args.memories} development-set memories, {count} questions")
    print("each cell: with only the question's own memory in the prompt / with no memory")
    print(f"{'':<22}" + "".join(f"{label:>18}" for label in results))

    def row(name: str, cell) -> None:
        print(f"{name:<22}" + "".join(f"{cell(r['own memory only']) + ' / ' + cell(r['no memory']):>18}"
                                      for r in results.values()))

    row("all", lambda s: f"{s.rate:.0%}")
    row("memories, every q", lambda s: str(s.memories_recalled))
    for shape in sorted({m.shape for m in memories}):
        row(f"  {shape}", lambda s, shape=shape: f"{s.by_shape[shape]:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
