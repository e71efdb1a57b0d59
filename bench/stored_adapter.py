"""Ask the development set's questions of one adapter a bench data folder keeps.

`bench/learning.py --nights N` asks after the last night only; this asks an earlier night's
adapter (home/adapters/<version>/adapter.gguf) the same way: bare, with the prompt chat sent
after that night (the memories its run marked learned left out), and the base model in context.

    .venv/bin/python bench/stored_adapter.py <bench data folder> <adapter version> [--memories 100]
        [--strength S]

In place of a version, an adapter file (a candidate the gate kept out, copied while its night
ran) is asked the same way, with no memory left out of chat's prompt.

--strength asks a copy at S times the change the night trained (whatever strength the gate kept
it at) and prints that copy's drift on the gate's texts: what another strength would have kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import devset  # noqa: E402  (after the path: run as a script)
from bench.learning import ask_dev_questions, reading, scored  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path, help="the data folder bench/learning.py left in /tmp")
    parser.add_argument("version", help="the adapter version (nocturne adapters list), or an adapter file")
    parser.add_argument("--memories", type=int, default=100, help="the N that folder was run with")
    parser.add_argument("--strength", type=float, help="ask a copy at this share of the trained change")
    args = parser.parse_args()
    from app.context import Nocturne
    from app.runs import TrainingRuns

    memories = devset.first(args.memories)
    app = Nocturne(args.home)
    try:
        adapter, learned = Path(args.version), set()
        if not adapter.is_file():
            row = app.store.query_one("SELECT run_id FROM adapters WHERE version = ?", (args.version,))
            if row is None:
                parser.error(f"{args.home} has no adapter {args.version}")
            # The stored report, read as the app reads it: the memories its night let leave the prompt.
            runs = TrainingRuns(app.store)
            learned = set(runs.report(runs.get(row["run_id"])).learned_memories)
            adapter = args.home / "adapters" / args.version / "adapter.gguf"
        shown: dict[str, list[bool]] = {}
        with tempfile.TemporaryDirectory() as scratch:  # the copy at another strength, if asked
            if args.strength is not None:
                adapter = at_strength(app, adapter, args.strength, Path(scratch))
            conditions = ask_dev_questions(app, memories, adapter, learned, quick=True, shown=shown)
    finally:
        app.close()
    trained = json.loads((args.home / "candidate.questions.json").read_text(encoding="utf-8"))
    result = scored(memories, conditions, trained)
    print(f"adapter {args.version}: {len(learned)} memories left out of chat's prompt")
    for key, rate in result["recall"].items():
        print(f"  {key:<24} {rate:.0%}")
    for key, parts in reading(memories, conditions, shown).items():
        print(f"  {key}: memory in prompt {parts['in_prompt']:.0%}, right when it was {parts['right_when_shown']:.0%}")
    print("per shape, adapter bare / adapter in chat / base in context:")
    for shape in sorted(result["by_shape"]["adapter_bare"]):
        print(f"  {shape:<12} " + "/".join(f"{result['by_shape'][k][shape]:.0%}"
                                          for k in ("adapter_bare", "adapter_in_chat", "base_in_chat")))
    return 0


def at_strength(app, adapter: Path, strength: float, folder: Path) -> Path:
    """A copy of `adapter` in `folder` at `strength` of the trained change; prints its drift."""
    from ondevice import evaluation
    from ondevice.training.gguf_lora import read_lora_gguf, write_at_strength

    kept_at = float(read_lora_gguf(adapter).metadata.get("strength", 1))
    copy = write_at_strength(adapter, strength / kept_at, folder / "adapter.gguf")
    drift = evaluation.mean_kl(app.model().path, evaluation.drift_texts(), adapter_path=copy)
    print(f"kept at {kept_at:.0%} strength; asked at {strength:.0%}: drift KL {drift:.4f}")
    return copy


if __name__ == "__main__":
    sys.exit(main())
