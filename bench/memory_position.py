"""Where chat puts the memories: in the system prompt (as it does), or in the user's turn?

Both sides of the choice, with chat's own retrieval and budget choosing the memories of the
first N development-set memories:
  - personal: every development-set question of those memories, with the memories in the system
    prompt and with them in the user's turn before the message; recall, how often the question's
    memory was in the prompt, and how often the answer was right when it was;
  - general: the general questions of bench/data/general_questions.txt that the model answers
    right with no memories, asked again with chat's memories in each place; how many stay right.
`--adapter` asks a trained adapter too (e.g. the candidate.gguf a bench/learning.py night keeps
in its data folder), every memory in the prompt.

    .venv/bin/python bench/memory_position.py [--memories 100] [--adapter FILE] [--general-only]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import devset  # noqa: E402
from ondevice.answer_match import gives_any  # noqa: E402  (scored as the gate scores its general questions)

GENERAL = REPO / "bench" / "data" / "general_questions.txt"


def in_system_prompt(question: str, memories: list[str]) -> list[dict]:
    """The messages chat sends: the memories at the end of the system prompt."""
    from app.prompt import system_message

    return [system_message(memories), {"role": "user", "content": question}]


def in_user_turn(question: str, memories: list[str]) -> list[dict]:
    """The alternative: the same memory lines in the user's turn, before the message."""
    from app.prompt import SYSTEM_PROMPT, system_message

    facts = system_message(memories)["content"].removeprefix(SYSTEM_PROMPT).strip()
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"{facts}\n\n{question}" if facts else question}]


POSITIONS = {"system prompt": in_system_prompt, "user's turn": in_user_turn}


def general_questions(path: Path = GENERAL) -> list[tuple[str, list[str]]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            question, answers = line.split(" => ")
            rows.append((question, answers.split("|")))
    return rows


def answers_to(engine, questions: list[str], messages_for) -> list[str]:
    """Greedy short answers, as the gate and bench/learning.py ask."""
    from ondevice.engine import GenerationOptions, Usage
    from ondevice.evaluation import PROBE_MAX_TOKENS

    options = GenerationOptions(max_tokens=PROBE_MAX_TOKENS)
    return ["".join(p for p in engine.stream(messages_for(q), options) if not isinstance(p, Usage)).strip()
            for q in questions]


def measure(engine, store, memories, ids, personal: bool = True) -> dict:
    from app.chat import ChatSettings
    from app.memory_context import memories_for_prompt

    def shown_for(question: str) -> list[tuple[int, str]]:
        count = lambda text: engine.count_tokens([{"role": "user", "content": text}])  # noqa: E731
        return memories_for_prompt(store, question, count, ChatSettings().memory_budget, set())

    questions = [q for m in memories for q in m.questions]
    targets = [ids[m.text] for m in memories for _ in m.questions]
    general = general_questions()
    known = [(q, expected) for (q, expected), answer in
             zip(general, answers_to(engine, [q for q, _ in general], lambda q: in_system_prompt(q, [])))
             if gives_any(answer, expected)]
    out = {"general known": len(known)}
    for position, build in POSITIONS.items():
        shown: list[bool] = []

        def messages_for(question: str) -> list[dict]:
            chosen = shown_for(question)
            shown.append(targets[len(shown)] in {memory_id for memory_id, _ in chosen})
            return build(question, [text for _, text in chosen])

        asked = questions if personal else []
        hits = [q.answered_by(a) for q, a in
                zip(asked, answers_to(engine, [q.question for q in asked], messages_for))]
        right = [hit for hit, flag in zip(hits, shown) if flag]
        kept = answers_to(engine, [q for q, _ in known], lambda q: build(q, [text for _, text in shown_for(q)]))
        out[position] = {"recall": sum(hits) / max(1, len(hits)), "in_prompt": sum(shown) / max(1, len(shown)),
                         "right_when_shown": sum(right) / max(1, len(right)),
                         "general": sum(gives_any(a, expected) for a, (_, expected) in zip(kept, known))}
        print(f"{position}: {out[position]}", file=sys.stderr, flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memories", type=int, default=100, help="how many dev memories (20 to 208)")
    parser.add_argument("--adapter", type=Path, help="also ask this adapter (GGUF LoRA of the bundled model)")
    parser.add_argument("--general-only", action="store_true",
                        help="only the general questions (minutes instead of half an hour at 100 memories)")
    args = parser.parse_args()

    from app.context import Nocturne
    from ondevice.llama_engine import LlamaEngine
    from tests.learning_helpers import add_memories

    memories = devset.first(args.memories)
    app = Nocturne(Path(tempfile.mkdtemp(prefix="nocturne-position-")))
    results = {}
    try:
        add_memories(app, [m.text for m in memories])
        ids = {row["text"]: row["id"] for row in app.store.query("SELECT id, text FROM memories")}
        for label, path in [("base", None)] + ([("adapter", args.adapter)] if args.adapter else []):
            engine = LlamaEngine(app.model(), adapter_path=path, adapter_version=label if path else None,
                                 n_threads=app.settings.get("threads"))
            engine.load()
            try:
                results[label] = measure(engine, app.store, memories, ids, personal=not args.general_only)
            finally:
                engine.close()
    finally:
        app.close()
    count = sum(len(m.questions) for m in memories)
    print(f"bundled SmolLM2-135M-Instruct Q4_1, {args.memories} memories stored, {count} development-set "
          f"questions, {len(general_questions())} general questions\n")
    print(f"{'model, memories in':24} {'recall':>7} {'in prompt':>10} {'right when shown':>17} {'general kept':>13}")
    for label, result in results.items():
        for position in POSITIONS:
            row = result[position]
            personal = (f"{'-':>7} {'-':>10} {'-':>17}" if args.general_only else
                        f"{row['recall']:>7.1%} {row['in_prompt']:>10.1%} {row['right_when_shown']:>17.1%}")
            print(f"{label + ', ' + position:24} {personal} {row['general']:>6} of {result['general known']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
