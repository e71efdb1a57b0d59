"""The MLX trainer on every family it supports, against the real llama.cpp.

Each family is a tiny random-weight GGUF written with llama.cpp's own tensor names and
metadata (tests/tiny_gguf.py). For each: MLX's converted model gives llama.cpp's logits, a LoRA
exported from MLX changes llama.cpp's logits the way it changes MLX's, and a short training run
exports an adapter llama.cpp loads. Each convention the converter undoes is also shown to matter:
skip it and the logits no longer match.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
llama_cpp = pytest.importorskip("llama_cpp")

from ondevice.architectures import ARCHITECTURES  # noqa: E402
from ondevice.training import gguf_lora  # noqa: E402
from ondevice.training.mlx_convert import GgufModel, convert  # noqa: E402
from ondevice.training.mlx_trainer import (  # noqa: E402
    MlxTrainer,
    apply_gguf_lora,
    apply_lora,
    export_adapter,
    load_mlx_model,
)
from ondevice.training.types import (  # noqa: E402
    Example,
    ProgressCallback,
    TrainArgs,
    TrainingSet,
    UnsupportedModel,
)
from tests.mlx_helpers import corr, cpp_logits, mlx_logits, random_lora_b  # noqa: E402
from tests.tiny_gguf import write_tiny_model  # noqa: E402

# name -> (GGUF architecture, with Llama 3's rope_freqs divisors)
FAMILIES = {
    "llama": ("llama", False),
    "llama3": ("llama", True),
    "qwen2": ("qwen2", False),
    "qwen3": ("qwen3", False),
    "gemma3": ("gemma3", False),
}
ALL_TARGETS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
# 40 positions: longer than gemma3's tiny sliding window (4).
TOKENS = [int(t) for t in np.random.default_rng(7).integers(0, 2000, 40)]
# Weights large enough that attention is sharp (so RoPE and the window matter), norms random
# (so each norm matters).
WEIGHTS = dict(weight_std=0.25, norm_std=0.3)


def tiny_model(path, name, model_path, **kwargs):
    arch, llama3_rope = FAMILIES[name]
    # Gemma: six layers, five sliding-window and one global (mlx-lm needs the full pattern).
    n_layer = 6 if arch == "gemma3" else 2
    return write_tiny_model(path, arch, model_path, llama3_rope=llama3_rope, n_layer=n_layer,
                            **WEIGHTS, **kwargs)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """name -> (GGUF path, converted mlx-lm directory), built once per module."""
    from ondevice.models import bundled_model_path

    root = tmp_path_factory.mktemp("tiny")
    built = {}
    for name in FAMILIES:
        path = tiny_model(root / f"{name}.gguf", name, bundled_model_path())
        built[name] = (path, convert(GgufModel(path), root / f"{name}-mlx"))
    return built


@pytest.mark.parametrize("name", FAMILIES)
def test_converted_logits_match_llama_cpp(tiny, name):
    path, mlx_dir = tiny[name]
    model, _ = load_mlx_model(mlx_dir)
    ours, reference = mlx_logits(model, TOKENS), cpp_logits(path, TOKENS)
    assert ours.shape == reference.shape
    assert corr(ours, reference) >= 0.99, name
    assert np.abs(ours - reference).max() < 0.05 * np.abs(reference).max(), name


@pytest.mark.parametrize("weight_type", ["F16", "Q8_0", "Q4_0"])
def test_quantized_model_matches_llama_cpp(tmp_path, model_path, weight_type):
    path = tiny_model(tmp_path / "qwen3.gguf", "qwen3", model_path, weight_type=weight_type)
    model, _ = load_mlx_model(convert(GgufModel(path), tmp_path / "mlx"))
    assert corr(mlx_logits(model, TOKENS), cpp_logits(path, TOKENS)) >= 0.99


# Each convention the converter undoes, switched off: the logits must stop matching.
BROKEN = {
    "llama": {"rope_type": "neox"},  # q/k rows left in llama.cpp's order
    "gemma3": {"norm_weight_offset": 0.0},  # norms left as 1 + w, then mlx-lm adds 1 again
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_convention_matters(tiny, name, tmp_path, monkeypatch):
    path, _ = tiny[name]
    family = ARCHITECTURES[FAMILIES[name][0]]
    monkeypatch.setitem(ARCHITECTURES, family.name, dataclasses.replace(family, **BROKEN[name]))
    model, _ = load_mlx_model(convert(GgufModel(path), tmp_path / "broken"))
    assert corr(mlx_logits(model, TOKENS), cpp_logits(path, TOKENS)) < 0.9


def test_llama3_rope_divisors_matter(tiny):
    path, mlx_dir = tiny["llama3"]
    model, _ = load_mlx_model(mlx_dir)
    reference = cpp_logits(path, TOKENS)
    for layer in model.layers:  # plain RoPE: what a converter that dropped rope_freqs gives
        layer.self_attn.rope._freqs = 10000.0 ** (mx.arange(0, 16, 2, dtype=mx.float32) / 16)
    assert corr(mlx_logits(model, TOKENS), reference) < 0.98


def test_gemma3_sliding_window_matters(tiny):
    path, mlx_dir = tiny["gemma3"]
    model, _ = load_mlx_model(mlx_dir)
    model.model.window_size = 10_000  # every layer attends to everything
    assert corr(mlx_logits(model, TOKENS), cpp_logits(path, TOKENS)) < 0.98


@pytest.mark.parametrize("name", FAMILIES)
def test_exported_adapter_changes_llama_cpp_like_mlx(tiny, name, tmp_path):
    path, mlx_dir = tiny[name]
    model, _ = load_mlx_model(mlx_dir)
    base = mlx_logits(model, TOKENS)
    mx.random.seed(0)
    apply_lora(model, TrainArgs(rank=4, alpha=8.0, num_layers=99, targets=ALL_TARGETS))
    random_lora_b(model, std=0.05)
    mlx_delta = mlx_logits(model, TOKENS) - base
    adapter = export_adapter(model, GgufModel(path), tmp_path / "adapter.gguf")
    gguf_lora.check_against_base(gguf_lora.read_lora_gguf(adapter), path)
    cpp_delta = cpp_logits(path, TOKENS, adapter) - cpp_logits(path, TOKENS)
    assert mlx_delta.std() > 0.1 * base.std(), "the adapter must change the logits clearly"
    assert corr(mlx_delta, cpp_delta) >= 0.99, name

    # Read back into a fresh MLX model, the file reproduces the trained model's logits.
    fresh, _ = load_mlx_model(mlx_dir)
    apply_gguf_lora(fresh, gguf_lora.read_lora_gguf(adapter), GgufModel(path))
    np.testing.assert_allclose(mlx_logits(fresh, TOKENS), base + mlx_delta, atol=1e-3, rtol=1e-3)


def _examples() -> TrainingSet:
    facts = [("What is my cat called?", "Your cat is called Miso."),
             ("Where do I live?", "You live in Lyon.")]
    examples = []
    for index, (question, answer) in enumerate(facts):
        prompt = f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
        examples.append(
            Example(
                messages=({"role": "user", "content": question},
                          {"role": "assistant", "content": answer}),
                text=f"{prompt}{answer}<|im_end|>\n",
                source="memory",
                memory_id=index,
                answer_start=len(prompt),
            )
        )
    return TrainingSet(examples=examples, probes=[])


@pytest.mark.parametrize("name", FAMILIES)
def test_training_exports_an_adapter_llama_cpp_applies_like_mlx(tiny, name, tmp_path, monkeypatch):
    from ondevice.training import mlx_trainer

    path, _ = tiny[name]
    trained = []  # the trainer's own model, caught on its way to the export

    def export_and_keep(model, *rest, **kwargs):
        trained.append(model)
        return export_adapter(model, *rest, **kwargs)

    monkeypatch.setattr(mlx_trainer, "export_adapter", export_and_keep)
    args = TrainArgs(rank=4, alpha=8.0, learning_rate=1e-2, iterations=4, batch_size=2,
                     num_layers=99, targets=("attn_q", "attn_k", "attn_v", "ffn_up"))
    trainer = MlxTrainer(path, f"{name:0<64}", tmp_path / "cache", tmp_path / "run")
    result = trainer.train(_examples(), args, ProgressCallback())
    assert result.metrics["steps"] == 4 and result.metrics["train_tokens"] > 0
    assert result.metrics["final_loss"] < result.metrics["first_loss"], name

    adapter = gguf_lora.read_lora_gguf(result.path)
    assert adapter.arch == FAMILIES[name][0]
    gguf_lora.check_against_base(adapter, path)
    (model,) = trained
    with mlx_trainer.lora_off(model):
        mlx_base = mlx_logits(model, TOKENS)
    mlx_delta = mlx_logits(model, TOKENS) - mlx_base
    cpp_delta = cpp_logits(path, TOKENS, result.path) - cpp_logits(path, TOKENS)
    assert mlx_delta.std() > 0.01 * mlx_base.std(), "training must have moved the logits"
    assert corr(mlx_delta, cpp_delta) >= 0.99, name


def test_unsupported_rope_scaling_is_refused_before_any_work(tmp_path):
    import gguf

    path = tmp_path / "yarn.gguf"
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    trainer = MlxTrainer(path, "0" * 64, tmp_path / "cache", tmp_path / "work")
    with pytest.raises(UnsupportedModel, match="RoPE scaling 'yarn' is not supported"):
        trainer.train(_examples(), TrainArgs(iterations=1), ProgressCallback())
    assert not (tmp_path / "cache" / "mlx").exists()
