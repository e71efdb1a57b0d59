"""Does an adapter still answer general questions? The base model against trained adapters.

Asks the general questions of bench/data/general_questions.txt (one right answer each, nothing
about the user) with chat's system prompt and no memories, of the bundled model and of the
bundled model with each adapter given, and prints how many each answers right and every question
where they differ. The gate's drift check (mean KL on generic texts) is an average over all
tokens; this counts answers a user would see go wrong. It also prints the gate's own general check
(ondevice/general_check.py, on its separate questions) for each adapter: kept or kept out.

    .venv/bin/python bench/general_answers.py ADAPTER.gguf [ADAPTER.gguf ...]

A bench/learning.py night keeps its adapter as candidate.gguf in its data folder (in the
temporary directory); a promoted adapter is adapters/<version>/adapter.gguf in a data folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.adapter_files import missing_adapter_files  # noqa: E402
from bench.memory_position import answers_to, general_questions, in_system_prompt  # noqa: E402
from ondevice.answer_match import gives_any  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("adapters", nargs="+", type=Path, help="GGUF LoRA adapters of the bundled model")
    args = parser.parse_args()
    problem = missing_adapter_files(args.adapters)
    if problem:
        print(problem, file=sys.stderr)
        return 2

    from app.context import Nocturne
    from app.prompt import SYSTEM_PROMPT
    from ondevice import general_check
    from ondevice.llama_engine import LlamaEngine

    questions = general_questions()
    gate_questions = general_check.general_questions()
    app = Nocturne(Path(tempfile.mkdtemp(prefix="nocturne-general-")))
    answers: dict[str, list[str]] = {}
    gate_right: dict[str, list[bool]] = {}
    try:
        for label, path in [("base", None)] + [(str(path), path) for path in args.adapters]:
            engine = LlamaEngine(app.model(), adapter_path=path, adapter_version="bench" if path else None,
                                 n_threads=app.settings.get("threads"))
            engine.load()
            try:
                answers[label] = answers_to(engine, [q for q, _ in questions], lambda q: in_system_prompt(q, []))
                gate_right[label] = general_check.right_answers(engine, gate_questions, SYSTEM_PROMPT)
            finally:
                engine.close()
    finally:
        app.close()
    right = {label: [gives_any(a, expected) for a, (_, expected) in zip(said, questions)]
             for label, said in answers.items()}
    print(f"bundled SmolLM2-135M-Instruct Q4_1, {len(questions)} general questions, no memories in the prompt\n")
    for label, marks in right.items():
        c = general_check.compare(right["base"], marks)  # against the base: lost, gained, sign test
        versus = "" if label == "base" else f" (lost {c.lost}, gained {c.gained}; chance {c.chance:.3f})"
        print(f"{sum(marks):>3} of {len(questions)} right{versus}  {label}")
    print("\nwhere they differ (right: +):")
    for i, (question, _) in enumerate(questions):
        if len({marks[i] for marks in right.values()}) > 1:
            print(f"  {question}")
            for label, said in answers.items():
                print(f"    {'+' if right[label][i] else '-'} {said[i][:70]!r}")
    print(f"\nthe gate's general check ({len(gate_questions)} other questions; kept out when the losses "
          f"would come by chance under {general_check.SIGNIFICANCE:.0%} of the time):")
    for label, marks in list(gate_right.items())[1:]:
        c = general_check.compare(gate_right["base"], marks)
        print(f"  {'kept    ' if c.passed else 'kept out'} {c.adapter:>2} of {c.questions} (base {c.base}; "
              f"lost {c.lost}, gained {c.gained}; chance {c.chance:.3f})  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
