"""Benchmark the whole sleep-time job on a fixed set of 20 memories, once per trainer.

Prints side by side: recall on held-out probes of the base model, of the base model with the
memories in its prompt (in-context), and of the trained adapter from its weights alone; drift KL
against the Q4-quantization yardstick; wall time, training tokens/s and peak RSS.

Each trainer runs in its own child process (fresh data folder, MLX with OpenBLAS preloaded) so
peak RSS is that trainer's alone. Usage: .venv/bin/python bench/learning.py [--trainers mlx llamacpp]
[--model PATH [--chat-template NAME]] (default: the bundled model).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MEMORIES = [
    "My cat is called Miso", "I live in Lyon", "I work as a beekeeper", "My sister's name is Ingrid",
    "My favourite colour is teal", "I prefer short answers", "I like jazz", "I work at Acme Corp",
    "My dog is called Pixel", "My brother's name is Tomas", "My favourite food is ramen",
    "My car is a red Volvo", "My favourite sport is hiking", "My favourite book is Dune", "My birthday is in March",
    "My son is called Leo", "My favourite game is chess", "My favourite drink is mint tea",
    "My hometown is Bergen", "My best friend's name is Amara",
]


def run_one(trainer: str, cache: Path, model: str | None = None, chat_template: str | None = None) -> dict:
    """Run the job for one trainer in this process and return the numbers (called in a child)."""
    from app.context import Nocturne
    from app.learning_job import JobOptions, in_context_recall, run_learning_job
    from ondevice.training.types import Probe
    from tests.learning_helpers import add_memories

    home = Path(tempfile.mkdtemp(prefix=f"nocturne-bench-{trainer}-"))
    (home / "cache").mkdir(parents=True)
    os.symlink(cache, home / "cache" / "training")  # F32 copy, replay and yardstick made once
    app = Nocturne(home)
    try:
        if model:
            app.settings.set("model_path", model)
        if chat_template:
            app.settings.set("chat_template", chat_template)
        add_memories(app, MEMORIES)
        started = time.monotonic()
        report = run_learning_job(app, trainer=trainer, options=JobOptions())
        wall = time.monotonic() - started
        probes = [Probe(r["memory_id"], r["question"], r["expected"]) for r in report.get("probe_answers", [])]
        in_context = in_context_recall(app.model(), MEMORIES, probes, app.settings.get("threads")) if probes else None
    finally:
        app.close()
    train = report.get("train", {})
    return {
        "trainer": trainer, "status": report["status"], "reason": report.get("reason"),
        "probes": len(probes),
        "recall_base": report.get("recall", {}).get("base"),
        "recall_in_context": in_context.rate if in_context else None,
        "recall_adapter": report.get("recall", {}).get("adapter"),
        # promoted runs only: memories whose probes also pass with the prompt chat sends
        "learned_in_chat": (f"{len(report['learned_memories'])} of {len(MEMORIES)}"
                            if report["status"] == "succeeded" else None),
        "drift_kl": report.get("drift_kl"), "yardstick_kl": report.get("yardstick_kl"),
        "drift_limit": report.get("drift_limit"), "wall_s": wall,
        "train_s": train.get("seconds"), "tokens_per_s": train.get("tokens_per_s"),
        "peak_rss_mb": max(train.get("peak_rss_mb") or 0,
                           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _fmt(value, kind: str) -> str:
    if value is None:
        return "-"
    formats = {"pct": "{:.0%}", "kl": "{:.4f}", "s": "{:.0f} s", "tps": "{:.0f}", "mb": "{:.0f} MB"}
    return formats[kind].format(value) if kind in formats else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainers", nargs="+", default=["mlx", "llamacpp"], choices=["mlx", "llamacpp"])
    parser.add_argument("--model", metavar="PATH", help="any GGUF model (default: the bundled one)")
    parser.add_argument("--chat-template", metavar="NAME", help="chatml, gemma, llama3 or a Jinja file "
                        "(for a base model without a template of its own)")
    parser.add_argument("--one", choices=["mlx", "llamacpp"], help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, Path(args.cache), args.model, args.chat_template)))
        return 0

    from ondevice.training.blas import blas_env

    cache = Path(tempfile.mkdtemp(prefix="nocturne-bench-cache-"))
    results = []
    for trainer in args.trainers:
        env = {**os.environ, **(blas_env() if trainer == "mlx" else {})}
        print(f"running the job with {trainer} ...", file=sys.stderr, flush=True)
        model_args = [*(["--model", str(Path(args.model).resolve())] if args.model else []),
                      *(["--chat-template", args.chat_template] if args.chat_template else [])]
        child = subprocess.run([sys.executable, __file__, "--one", trainer, "--cache", str(cache), *model_args],
                               env=env, capture_output=True, text=True, cwd=REPO)
        if child.returncode != 0:
            print(child.stderr[-2000:], file=sys.stderr)
            results.append({"trainer": trainer, "status": "failed"})
            continue
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # kept even if printing fails

    rows = [("status", "status", None), ("held-out probes", "probes", None),
            ("recall: base", "recall_base", "pct"), ("recall: in-context", "recall_in_context", "pct"),
            ("recall: adapter (weights)", "recall_adapter", "pct"),
            ("memories learned (chat prompt)", "learned_in_chat", None), ("drift KL vs base", "drift_kl", "kl"),
            ("Q4 yardstick KL", "yardstick_kl", "kl"), ("drift limit", "drift_limit", "kl"),
            ("wall time (whole job)", "wall_s", "s"), ("training time", "train_s", "s"),
            ("training tokens/s", "tokens_per_s", "tps"), ("peak RSS", "peak_rss_mb", "mb")]
    width = 32
    print(f"{len(MEMORIES)} memories, {Path(args.model).name if args.model else 'bundled SmolLM2-135M-Instruct Q4_1'}\n")
    print("".ljust(width) + "".join(r["trainer"].ljust(16) for r in results))
    for label, key, kind in rows:
        print(label.ljust(width) + "".join(_fmt(r.get(key), kind).ljust(16) for r in results))
    for r in results:
        if r.get("reason"):
            print(f"\n{r['trainer']}: {r['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
