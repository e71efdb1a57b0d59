"""Logits from llama.cpp and from MLX for the same tokens, and how to compare them."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def cpp_logits(base_path: Path, tokens: list[int], lora: Path | None = None) -> np.ndarray:
    """llama.cpp's logits for every position, optionally with a LoRA adapter loaded."""
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(base_path),
        lora_path=str(lora) if lora else None,
        logits_all=True,
        n_ctx=256,
        verbose=False,
    )
    try:
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)], dtype=np.float32)
    finally:
        llm.close()


def mlx_logits(model, tokens: list[int]) -> np.ndarray:
    import mlx.core as mx

    return np.array(model(mx.array([tokens]))[0], dtype=np.float32)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def random_lora_b(model, std: float, seed: int = 0) -> None:
    """Give every LoRA layer of `model` random (non-zero) B matrices, so it changes logits."""
    import mlx.core as mx
    from mlx_lm.tuner.lora import LoRALinear

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for _, module in layer.named_modules():
            if isinstance(module, LoRALinear):
                shape = module.lora_b.shape
                module.lora_b = mx.array(rng.normal(0, std, shape).astype(np.float32))
