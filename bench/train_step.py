"""Where a training step's time goes, with the llama.cpp trainer on the development set.

Builds the training set the job builds for the first N dev memories (no replay: the set only
fills the fixed windows, whose length sets a step's cost), trains K steps of the bundled model
and prints seconds per step and its parts: the base model's forward pass for the anchor, llama.cpp's
forward and backward pass, the label rewrite inside it, and the LoRA factors' update. A night's
steps are its budget divided by this.

    .venv/bin/python bench/train_step.py [--memories 100] [--steps 12] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import devset  # noqa: E402  (after the path: run as a script)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=100)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, help="CPU threads (default: all)")
    parser.add_argument("--cache", help="a training cache folder to reuse (the float32 copy)")
    args = parser.parse_args()

    from app.learning_job import token_counter
    from app.prompt import SYSTEM_PROMPT, system_message
    from ondevice.models import bundled_model_path, file_sha256
    from ondevice.training.dataset import ChatTemplate, build_training_set
    from ondevice.training.llamacpp_trainer import LlamaCppTrainer
    from ondevice.training.types import ProgressCallback

    path = bundled_model_path()
    memories = devset.first(args.memories)
    dataset, _ = build_training_set(
        [(i, m.text) for i, m in enumerate(memories, 1)], ChatTemplate.from_gguf(path), SYSTEM_PROMPT,
        token_counter(path), system_with_memories=lambda texts: system_message(texts)["content"])
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="nocturne-step-cache-"))
    work = Path(tempfile.mkdtemp(prefix="nocturne-step-"))
    trainer = LlamaCppTrainer(path, file_sha256(path), cache, work)
    train_args = replace(LlamaCppTrainer.default_args, iterations=args.steps, threads=args.threads)
    metrics = trainer.train(dataset, train_args, ProgressCallback(lambda _: None)).metrics
    step = metrics["train_tokens"] / metrics["tokens_per_s"] / metrics["steps"]
    print(f"{args.memories} memories, {len(dataset.examples)} examples, {metrics['steps']} steps of "
          f"{metrics['n_ctx']} tokens: {step:.2f} s a step")
    for part, seconds in (metrics.get("step_seconds_by_part") or {}).items():
        print(f"  {part:<18} {seconds:.2f} s ({seconds / step:.0%})")
    print(json.dumps({"seconds_per_step": round(step, 3), **(metrics.get("step_seconds_by_part") or {})}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
