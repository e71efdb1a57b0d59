"""Benchmark automatic memory proposals on a labelled set of conversations.

bench/data/memory_conversations.jsonl holds 32 multi-turn conversations written by hand, each
with the memories a careful person would take from it (and keywords a correct memory contains).
The rules were tuned while looking at it, so it flatters them: memory_conversations_heldout.jsonl
(12 more) was written after the rules were frozen and is never tuned on. For each path and set
this prints precision, recall, the duplicate rate and the time per 100 user turns.

A proposal counts as correct when it contains every keyword of an expected memory of the same
conversation (case-insensitive); a second proposal for the same expected memory is a duplicate.
The model path asks the chat model (the bundled one unless --model) for memories in JSON a
grammar enforces, then applies the same quality rules; "both" is the model plus the rules.
Usage: .venv/bin/python bench/memories.py [--paths rules model both] [--model GGUF]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEV_SET = REPO / "bench" / "data" / "memory_conversations.jsonl"
HELD_OUT = REPO / "bench" / "data" / "memory_conversations_heldout.jsonl"
SETS = {"dev": DEV_SET, "held-out": HELD_OUT}


def load(path: Path = DEV_SET) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def rules_path(turns: list[dict]) -> list[str]:
    from app.memory_capture import propose_memories

    return [c["text"] for c in propose_memories(turns)]


def model_paths(model_path: str | None) -> dict:
    """The model-based paths on one loaded engine."""
    import tempfile

    from app.memory_capture import KnownMemories
    from app.memory_extraction import extract
    from ondevice.llama_engine import LlamaEngine
    from ondevice.models import HashCache, resolve_model

    hashes = HashCache(Path(tempfile.mkdtemp()) / "hashes.json")
    engine = LlamaEngine(resolve_model(model_path, hashes))
    engine.load()
    asked: dict[str, list[str]] = {}  # "both" reuses the model's answers instead of asking again

    def model(turns):
        key = json.dumps(turns)
        if key not in asked:
            asked[key] = [m["text"] for m in extract(engine, turns)]
        return asked[key]

    def both(turns):  # as app.memory_extraction.with_rules combines them
        known, combined = KnownMemories(), []
        for text in rules_path(turns) + model(turns):
            if text not in known:
                known.add(text)
                combined.append(text)
        return combined

    return {"model": model, "both": both}


def matches(proposal: str, expected: dict) -> bool:
    text = proposal.lower()
    return all(keyword.lower() in text for keyword in expected["keywords"])


def score(conversations: list[dict], propose) -> dict:
    """Precision, recall and duplicates of `propose(turns) -> [text]` over the set."""
    proposals = correct = duplicates = found = 0
    expected_total = sum(len(c["expected"]) for c in conversations)
    turns = sum(1 for c in conversations for t in c["turns"] if t["role"] == "user")
    misses, wrong = [], []
    started = time.perf_counter()
    outputs = [(c, propose(c["turns"])) for c in conversations]
    seconds = time.perf_counter() - started
    for conversation, texts in outputs:
        hit: set[int] = set()
        for text in texts:
            proposals += 1
            owners = [i for i, e in enumerate(conversation["expected"]) if matches(text, e)]
            if not owners:
                wrong.append(f"{conversation['id']}: {text}")
                continue
            correct += 1
            if all(i in hit for i in owners):
                duplicates += 1
            hit.update(owners)
        found += len(hit)
        misses += [f"{conversation['id']}: {e['text']}" for i, e in enumerate(conversation["expected"])
                   if i not in hit]
    return {"proposals": proposals, "precision": correct / proposals if proposals else 0.0,
            "recall": found / expected_total, "duplicate_rate": duplicates / proposals if proposals else 0.0,
            "seconds_per_100_turns": 100 * seconds / turns, "misses": misses, "wrong": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", nargs="+", default=["rules", "model", "both"],
                        choices=["rules", "model", "both"])
    parser.add_argument("--model", help="GGUF for the model paths (default: the bundled model)")
    parser.add_argument("--verbose", action="store_true", help="list misses and wrong proposals")
    args = parser.parse_args()
    print(f"{'path':<8} {'set':<9} {'convs':>5} {'expected':>8} {'proposals':>9} {'precision':>9} "
          f"{'recall':>7} {'dup rate':>8} {'s/100 turns':>11}")
    paths = {"rules": rules_path}
    if set(args.paths) & {"model", "both"}:
        paths.update(model_paths(args.model))
    for name in args.paths:
        for set_name, path in SETS.items():
            conversations = load(path)
            expected = sum(len(c["expected"]) for c in conversations)
            result = score(conversations, paths[name])
            print(f"{name:<8} {set_name:<9} {len(conversations):>5} {expected:>8} {result['proposals']:>9} "
                  f"{result['precision']:>9.2f} {result['recall']:>7.2f} {result['duplicate_rate']:>8.2f} "
                  f"{result['seconds_per_100_turns']:>11.3f}")
            if args.verbose:
                print("  missed:", *result["misses"], sep="\n    ")
                print("  wrong:", *result["wrong"], sep="\n    ")


if __name__ == "__main__":
    main()
