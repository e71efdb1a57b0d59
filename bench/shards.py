"""Adapter shards against one adapter: what a night costs when only one shard changed, and what
the combination recalls and drifts (issue #15's scale design, measured before it is built).

The first N dev memories are dealt round robin into K disjoint shards (each a mix of shapes).
Each shard is learned by the real nightly job in its own data folder: its own training set,
replay, steps sized to the shard, gate and promotion. The promoted shard adapters are combined
into one file (`combine_adapters`: the exact sum of their changes, as llama.cpp would apply them
together) and then, as bench/learning.py does for one adapter, every dev question of the N
memories is asked: bare, and with the prompt chat sends (which leaves out the memories the
shards' jobs marked learned), beside the base model with every memory in its prompt.

Printed: per shard, its memories, training tokens, steps, training minutes, drift and verdict;
for the combination, its drift against the gate's limit (and the strongest copy under it) and
dev recall per shape. The cost of a night in which one memory changed is one shard's; with one
adapter it is everything. Compare with `bench/learning.py --memories N` (one adapter, same set).

Usage: scripts/with-blas.sh .venv/bin/python bench/shards.py [--memories 20] [--shards 4] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import devset  # noqa: E402  (after the path: run as a script)
from bench.learning import _kept_trainer, _pct, ask_dev_questions, score_conditions  # noqa: E402


def _home(prefix: str, cache: Path) -> Path:
    home = Path(tempfile.mkdtemp(prefix=prefix)) / "home"
    (home / "cache").mkdir(parents=True)
    os.symlink(cache, home / "cache" / "training")  # F32 copy, replay and yardstick made once
    return home


def learn_shard(trainer: str, texts: list[str], cache: Path, seed: int = 0) -> dict:
    """The real job on one shard's memories, in its own data folder; `seed` starts its LoRA."""
    from app.context import Nocturne
    from app.learning_job import JobOptions, run_learning_job
    from ondevice.adapters import version_dir
    from tests.learning_helpers import add_memories

    home = _home("nocturne-shard-", cache)
    kept = home / "candidate.gguf"
    app = Nocturne(home)
    try:
        add_memories(app, texts)
        started = time.monotonic()
        report = run_learning_job(app, trainer=trainer, options=JobOptions(trainer_cls=_kept_trainer(trainer, kept),
                                                                           tuning={"seed": seed}))
        by_id = {row["id"]: row["text"] for row in app.store.query("SELECT id, text FROM memories")}
    finally:
        app.close()
    promoted = report.status == "succeeded"
    return {
        "memories": len(texts), "status": report.status, "reason": report.reason,
        "adapter": str(version_dir(home, report.adapter_version) / "adapter.gguf") if promoted else None,
        "learned": [by_id[i] for i in report.learned_memories if i in by_id] if promoted else [],
        "strength": report.adapter_strength, "drift_kl": report.drift_kl,
        "full_strength_drift_kl": report.full_strength_drift_kl, "job_probe_recall": report.recall.adapter if report.recall else None,
        "tokens": report.tokens, "iterations": report.args.get("iterations"),
        "train_s": report.training_seconds, "wall_s": time.monotonic() - started,
    }


def overlap(adapters: list[Path]) -> dict:
    """How much the shards' changes share: the mean pairwise cosine of their weight changes, and
    of their LoRA input subspaces (1: the same rows of A; about rank/width for random ones)."""
    import itertools

    import numpy as np

    from ondevice.training.gguf_lora import read_lora_gguf

    loras = [read_lora_gguf(path) for path in adapters]
    names = sorted(set.intersection(*(set(lora.pairs) for lora in loras)))
    cosines, subspaces = [], []
    for name in names:
        deltas = [lora.delta(name).ravel() for lora in loras]
        bases = [np.linalg.qr(lora.pairs[name][0].T)[0] for lora in loras]
        for i, j in itertools.combinations(range(len(loras)), 2):
            cosines.append(deltas[i] @ deltas[j] / (np.linalg.norm(deltas[i]) * np.linalg.norm(deltas[j])))
            subspaces.append(np.linalg.norm(bases[i].T @ bases[j]) ** 2 / bases[i].shape[1])
    return {"delta_cosine": float(np.mean(cosines)) if cosines else None,
            "input_subspace_overlap": float(np.mean(subspaces)) if subspaces else None}


def combination(adapters: list[Path], out: Path, model, cache: Path, threads) -> dict:
    """Combine the shard adapters; its drift, and the strongest copy that the gate's limit admits."""
    from types import SimpleNamespace

    from app.adapter_strength import gentler_adapter
    from ondevice import evaluation
    from ondevice.training.gguf_lora import combine_adapters

    combined = combine_adapters(adapters, out)
    texts = evaluation.drift_texts()

    def drift_of(path: Path) -> float:
        return evaluation.mean_kl(model.path, texts, adapter_path=path, n_threads=threads)

    drift = drift_of(combined)
    yardstick = evaluation.quantization_yardstick(model.path, model.sha256, cache, texts, threads)
    limit = evaluation.drift_limit(yardstick)
    chosen, strength, chosen_drift = combined, 1.0, drift
    if drift > limit:  # the job's own gentler copies; recall is the dev questions', asked after
        tried = []
        gentler = gentler_adapter(combined, out.parent, -1.0, limit, drift_of, lambda path: SimpleNamespace(rate=0.0),
                                  tried)
        if gentler is not None:
            chosen, strength, chosen_drift = gentler.path, gentler.strength, gentler.drift
        else:  # none passes: the weakest copy, shown with its drift over the limit
            strength, chosen_drift = tried[-1].strength, tried[-1].drift
            chosen = out.parent / f"adapter-{strength:g}.gguf"
    return {"drift_kl": drift, "drift_limit": limit, "strength": strength, "chosen_drift_kl": chosen_drift,
            "path": str(chosen), **overlap(adapters)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=20, help="how many dev memories")
    parser.add_argument("--shards", type=int, default=4, help="disjoint shards to deal them into")
    parser.add_argument("--trainer", default="llamacpp", choices=["mlx", "llamacpp"])
    parser.add_argument("--out", help="also write every number and answer to this JSON file")
    parser.add_argument("--distinct-seeds", action="store_true",
                        help="start each shard's LoRA from its own random A (default: the job's seed for all)")
    args = parser.parse_args()
    if not 1 <= args.shards <= args.memories <= len(devset.load()):
        parser.error("need 1 <= --shards <= --memories <= the development set's size")

    from app.context import Nocturne
    from tests.learning_helpers import add_memories

    memories = devset.first(args.memories)
    groups = [memories[i::args.shards] for i in range(args.shards)]
    cache = Path(tempfile.mkdtemp(prefix="nocturne-bench-cache-"))
    shards = []
    for i, group in enumerate(groups, 1):
        print(f"shard {i}/{args.shards}: the job on {len(group)} memories ...", file=sys.stderr, flush=True)
        shards.append(learn_shard(args.trainer, [m.text for m in group], cache, seed=i if args.distinct_seeds else 0))
        print(json.dumps(shards[-1]), file=sys.stderr, flush=True)
    adapters = [Path(s["adapter"]) for s in shards if s["adapter"]]

    home = _home("nocturne-shards-eval-", cache)
    app = Nocturne(home)
    try:
        add_memories(app, [m.text for m in memories])
        model, threads = app.model(), app.settings.get("threads")
        combo = combination(adapters, home / "combined.gguf", model, home / "cache" / "training", threads) \
            if adapters else None
        learned_texts = {text for s in shards for text in s["learned"]}
        learned = {row["id"] for row in app.store.query("SELECT id, text FROM memories") if row["text"] in learned_texts}
        conditions = ask_dev_questions(app, memories, Path(combo["path"]) if combo else None, learned)
    finally:
        app.close()
    scores = score_conditions(memories, conditions)
    result = {"memories": args.memories, "shards": shards, "combination": combo,
              "recall": {k: s.rate for k, s in scores.items()},
              "memories_recalled": {k: s.memories_recalled for k, s in scores.items()},
              "by_shape": {k: s.by_shape for k, s in scores.items()}, "learned_in_chat": len(learned),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "answers": {k: dict(zip([q.question for m in memories for q in m.questions], v)) for k, v in conditions.items()}}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print_result(result, args)
    return 0


def print_result(result: dict, args) -> None:
    seeds = ", each shard's LoRA from its own seed" if args.distinct_seeds else ", every shard's LoRA from the same seed"
    print(f"\n{args.trainer} trainer, bundled model, {args.memories} dev memories in {args.shards} shards{seeds}\n")
    print("shard  memories  status      strength  drift KL  tokens  steps  training")
    for i, s in enumerate(result["shards"], 1):
        drift = "-" if s["drift_kl"] is None else f"{s['drift_kl']:.3f}"
        minutes = "-" if s["train_s"] is None else f"{s['train_s'] / 60:.1f} min"
        print(f"{i:<6} {s['memories']:<9} {s['status']:<11} {_pct(s['strength'] or 1.0):<9} {drift:<9} "
              f"{sum((s['tokens'] or {}).values()):<7} {s['iterations'] or '-':<6} {minutes}")
    spent = [s["train_s"] or 0 for s in result["shards"]]
    tokens = [sum((s["tokens"] or {}).values()) for s in result["shards"]]
    print(f"\nfirst night (every shard): {sum(tokens)} tokens, {sum(spent) / 60:.1f} min of training")
    print(f"a night where one shard changed: {max(tokens)} tokens at most, {max(spent) / 60:.1f} min at most")
    combo = result["combination"]
    if combo:
        print(f"combination of {sum(1 for s in result['shards'] if s['adapter'])} promoted shards: drift KL "
              f"{combo['drift_kl']:.3f} (limit {combo['drift_limit']:.3f}); shipped at {combo['strength']:.0%} "
              f"strength, drift {combo['chosen_drift_kl']:.3f}")
        if combo.get("delta_cosine") is not None:
            print(f"the shards' weight changes: mean pairwise cosine {combo['delta_cosine']:.2f}; their LoRA "
                  f"input subspaces overlap {combo['input_subspace_overlap']:.2f} (1 = the same)")
    recall = result["recall"]
    for key, label in [("adapter_bare", "dev recall: combination, bare"),
                       ("adapter_in_chat", "dev recall: combination, in chat"),
                       ("base_in_chat", "dev recall: base, in context"), ("base_bare", "dev recall: base, bare")]:
        print(f"{label:<36} {_pct(recall.get(key)):<6} memories with every answer: "
              f"{result['memories_recalled'].get(key, '-')}")
    print(f"learned in chat (the shards' jobs): {result['learned_in_chat']}; peak RSS {result['peak_rss_mb']:.0f} MB")
    print("\nper shape, combination bare / combination in chat / base in context:")
    for shape in sorted(result["by_shape"].get("base_in_chat", {})):
        print(f"  {shape:<14}" + "/".join(_pct(result["by_shape"].get(k, {}).get(shape))
                                         for k in ("adapter_bare", "adapter_in_chat", "base_in_chat")))


if __name__ == "__main__":
    sys.exit(main())
