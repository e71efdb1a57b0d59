"""Does the model say it was not told, or make something up? Questions nobody answered.

Asks the questions of bench/data/unknown_questions.txt (about the development set's person, but
answered by none of its memories) of the bundled model and of the bundled model with each adapter
given, bare and with the prompt chat sends once the first N development-set memories are stored
(every memory may be shown; the ones the question's words find come first). Prints how often each
says it was not told (says_not_told) and, with --show, every answer.

    .venv/bin/python bench/unknown_questions.py [--memories 100] [--show] [ADAPTER.gguf ...]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import devset  # noqa: E402
from bench.adapter_files import missing_adapter_files  # noqa: E402
from ondevice.answer_match import fold  # noqa: E402

QUESTIONS = REPO / "bench" / "data" / "unknown_questions.txt"


# How the models say they were not told something ("You haven't told me your middle name.").
_NOT_TOLD = re.compile(
    r"\b(?:(?:have ?n[o']t|have never|never|did ?n[o']t|did not|has ?n[o']t) (?:told|mentioned|said|shared|given)"
    r"|not (?:mentioned|told|shared)|(?:do ?n[o']t|do not|don't) (?:know|have (?:that|this|any) (?:information|detail))"
    r"|no (?:information|record|idea)|not sure|not aware)\b")


def says_not_told(answer: str) -> bool:
    """Whether `answer` says the model was not told or does not know, rather than giving a fact."""
    return _NOT_TOLD.search(fold(answer)) is not None


def unknown_questions() -> list[str]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ask(app, adapter: Path | None, questions: list[str]) -> dict[str, list[str]]:
    """Answers bare and in chat, greedy and short as the gate asks (evaluation.short_answer)."""
    from app.chat import ChatSettings
    from app.memory_context import memories_for_prompt
    from app.prompt import SYSTEM_PROMPT, system_message
    from ondevice.evaluation import short_answer
    from ondevice.llama_engine import LlamaEngine

    engine = LlamaEngine(app.model(), adapter_path=adapter, adapter_version="bench" if adapter else None,
                         n_threads=app.settings.get("threads"))
    engine.load()
    try:
        count = lambda text: engine.count_tokens([{"role": "user", "content": text}])  # noqa: E731

        def in_chat(question: str) -> str:
            shown = memories_for_prompt(app.store, question, count, ChatSettings().memory_budget, set())
            return system_message([text for _, text in shown])["content"]

        return {"bare": [short_answer(engine, SYSTEM_PROMPT, q) for q in questions],
                "in chat": [short_answer(engine, in_chat(q), q) for q in questions]}
    finally:
        engine.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("adapters", nargs="*", type=Path, help="GGUF LoRA adapters of the bundled model")
    parser.add_argument("--memories", type=int, default=100, help="development-set memories stored for chat's prompt")
    parser.add_argument("--show", action="store_true", help="print every answer")
    args = parser.parse_args()
    problem = missing_adapter_files(args.adapters)
    if problem:
        print(problem, file=sys.stderr)
        return 2

    from app.context import Nocturne
    from tests.learning_helpers import add_memories

    questions = unknown_questions()
    app = Nocturne(Path(tempfile.mkdtemp(prefix="nocturne-unknown-")))
    try:
        add_memories(app, [m.text for m in devset.first(args.memories)])
        print(f"bundled model, {args.memories} development-set memories stored, {len(questions)} questions none "
              "of them answers\n")
        print(f"{'model':<40}{'bare':>14}{'in chat':>14}")
        for label, adapter in [("base", None)] + [(str(path), path) for path in args.adapters]:
            answers = ask(app, adapter, questions)
            cells = [f"{sum(map(says_not_told, answers[k]))} of {len(questions)}" for k in ("bare", "in chat")]
            print(f"{label[-40:]:<40}{cells[0]:>14}{cells[1]:>14}  said they were not told", flush=True)
            if args.show:
                for question, bare, chat in zip(questions, answers["bare"], answers["in chat"]):
                    print(f"    {question}\n      bare:    {bare}\n      in chat: {chat}")
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
