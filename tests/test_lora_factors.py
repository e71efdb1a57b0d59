"""LoRA factors trained from the gradients read back out of llama.cpp's SGD step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ondevice.training.gguf_lora import read_lora_gguf, write_lora_gguf
from ondevice.training.lora_factors import SGD_STEP, LoraFactors


@dataclass
class _Param:
    weight: np.ndarray
    base: np.ndarray


def _params(rng, shapes: dict[str, tuple[int, int]]) -> dict[str, _Param]:
    out = {}
    for name, shape in shapes.items():
        base = rng.normal(scale=0.05, size=shape).astype(np.float32)
        out[name] = _Param(weight=base.copy(), base=base)
    return out


def _sgd(params: dict[str, _Param], grads: dict[str, np.ndarray]) -> None:
    """What ggml-opt's SGD step does to the weights (weight decay 0)."""
    for name, param in params.items():
        param.weight -= np.float32(SGD_STEP) * grads[name]


def test_a_step_is_adam_on_the_factors_with_the_chain_rule_gradient():
    rng = np.random.default_rng(0)
    params = _params(rng, {"blk.0.attn_q.weight": (12, 10), "blk.0.attn_v.weight": (4, 10)})
    lora = LoraFactors(params, rank=3, scale=20.0, learning_rate=1e-3, seed=1)
    for name, param in params.items():  # B starts at zero: the weights are the base's
        assert np.array_equal(param.weight, param.base) and not lora.b[name].any()

    grads = {n: rng.normal(scale=1e-3, size=p.base.shape).astype(np.float32) for n, p in params.items()}
    a0 = {n: lora.a[n].astype(np.float64) for n in params}
    _sgd(params, grads)
    norm = lora.step()

    assert norm == pytest.approx(np.sqrt(sum(np.square(g.astype(np.float64)).sum() for g in grads.values())),
                                 rel=1e-4)
    for name, param in params.items():
        grad_b = 20.0 * grads[name].astype(np.float64) @ a0[name].T  # dL/dB = s G Aᵀ
        m, v = 0.1 * grad_b, 0.001 * grad_b**2  # mlx's AdamW, no bias correction
        assert np.allclose(lora.b[name], -1e-3 * m / (np.sqrt(v) + 1e-8), rtol=1e-3, atol=1e-9)
        assert np.allclose(lora.a[name], a0[name])  # dL/dA = s Bᵀ G = 0 while B is zero
        delta = 20.0 * lora.b[name].astype(np.float64) @ lora.a[name].astype(np.float64)
        assert np.allclose(param.weight - param.base, delta, atol=1e-6)


def test_repeated_steps_descend_a_quadratic_and_the_adapter_file_holds_the_delta(tmp_path):
    """Fit W towards a rank-2 target: loss 0.5 |W - T|^2, gradient W - T."""
    rng = np.random.default_rng(2)
    params = _params(rng, {"blk.3.attn_q.weight": (16, 12)})
    param = params["blk.3.attn_q.weight"]
    target = param.base + 0.05 * rng.normal(size=(16, 2)) @ rng.normal(size=(2, 12))
    lora = LoraFactors(params, rank=4, scale=2.0, learning_rate=1e-2, seed=0)
    start = np.linalg.norm(param.weight - target)
    for _ in range(300):
        _sgd(params, {"blk.3.attn_q.weight": (param.weight - target).astype(np.float32)})
        lora.step()
    assert np.linalg.norm(param.weight - target) < 0.2 * start

    path = write_lora_gguf(tmp_path / "adapter.gguf", "llama", lora.scale * lora.rank, lora.pairs())
    written = read_lora_gguf(path)
    assert np.allclose(written.delta("blk.3.attn_q.weight"), param.weight - param.base, atol=1e-5)
    shares = lora.energy_by_rank()
    assert list(shares) == ["1", "2", "4"] and shares["4"] == pytest.approx(1.0)
    assert shares["2"] > 0.95  # the target's change had rank 2
