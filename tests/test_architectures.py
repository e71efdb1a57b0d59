"""The architecture table and `can_learn`: facts checked against gguf-py, answers from the header."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from ondevice.architectures import ARCHITECTURES, LLAMACPP, MLX, can_learn
from ondevice.gguf_header import HeaderError, read_header
from tests.tiny_gguf import N_EMBD, N_FF, write_tiny_model


def _gguf_names(arch: str) -> set[str]:
    """The tensor names gguf-py (the package llama.cpp's converter writes with) lists for `arch`."""
    import gguf

    model_arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == arch)
    return {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[model_arch]}


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_table_tensor_names_are_gguf_pys(arch):
    family = ARCHITECTURES[arch]
    known = _gguf_names(arch)
    for kind in family.layer_weights + family.layer_biases + family.extra_layer_norms:
        assert f"blk.{{bid}}.{kind}" in known, kind
    for name in family.optional_tensors:
        if name == "rope_freqs.weight" and arch == "gemma3":
            continue
        assert name.removesuffix(".weight") in known, name


def test_header_matches_gguf_reader_on_the_bundled_model(model_path):
    import gguf

    reader = gguf.GGUFReader(str(model_path))
    header = read_header(model_path)
    assert [t.name for t in header.tensors] == [t.name for t in reader.tensors]
    assert [t.shape for t in header.tensors] == [tuple(int(n) for n in t.shape) for t in reader.tensors]
    for key in ("general.architecture", "llama.block_count", "llama.rope.freq_base", "tokenizer.chat_template"):
        assert header.metadata[key] == reader.fields[key].contents()
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    assert header.metadata["tokenizer.ggml.tokens"].length == len(tokens)
    picked = read_header(model_path, pick={"tokenizer.ggml.tokens": {0, 2, len(tokens) - 1}})
    assert picked.metadata["tokenizer.ggml.tokens"].picked == {i: tokens[i] for i in (0, 2, len(tokens) - 1)}
    scores = reader.fields.get("tokenizer.ggml.token_type")
    if scores is not None:  # an integer array: items are read by offset, not walked
        typed = read_header(model_path, pick={"tokenizer.ggml.token_type": {5}})
        assert typed.metadata["tokenizer.ggml.token_type"].picked == {5: scores.contents()[5]}


def test_header_reading_takes_milliseconds(model_path):
    started = time.perf_counter()
    for _ in range(5):
        read_header(model_path)
    assert (time.perf_counter() - started) / 5 < 0.5  # a loose bound; bench numbers in the report


def test_bundled_model_learns_with_llamacpp(model_path):
    check = can_learn(model_path, LLAMACPP)
    assert check.ok and check.trainer == LLAMACPP and check.arch == "llama"


@pytest.mark.parametrize("arch,words", [
    ("qwen35", "linear-attention"), ("lfm2", "convolution"), ("qwen3moe", "mixture-of-experts"),
    ("qwen2moe", "mixture-of-experts"), ("mystery", "trains llama, qwen2, qwen3, gemma3 models only"),
])
def test_untrainable_families_are_refused_from_the_header(tmp_path, model_path, arch, words):
    path = write_tiny_model(tmp_path / f"{arch}.gguf", arch, model_path)
    started = time.perf_counter()
    check = can_learn(path)
    assert time.perf_counter() - started < 1.0
    assert check.trainer is None and words in check.reason and path.name in check.reason


def test_expert_tensors_are_refused_whatever_the_arch(tmp_path, model_path):
    experts = {f"blk.{i}.ffn_gate_exps.weight": np.zeros((4, N_FF, N_EMBD), np.float32) for i in range(2)}
    path = write_tiny_model(tmp_path / "mixtral.gguf", "llama", model_path, extra_tensors=experts)
    check = can_learn(path)
    assert check.trainer is None and "mixture-of-experts" in check.reason


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3"])
def test_llamacpp_families(tmp_path, model_path, arch):
    path = write_tiny_model(tmp_path / f"{arch}.gguf", arch, model_path)
    check = can_learn(path, "auto", mlx_installed=False)
    assert check.trainer == LLAMACPP, check.reason


def test_gemma3_is_not_llamacpps_and_says_why(tmp_path, model_path):
    path = write_tiny_model(tmp_path / "gemma3.gguf", "gemma3", model_path)
    check = can_learn(path, LLAMACPP)
    assert check.trainer is None and "GEGLU" in check.reason
    if ARCHITECTURES["gemma3"].mlx_blocker is None:  # once the MLX trainer converts gemma3
        assert can_learn(path, "auto", mlx_installed=True).trainer == MLX


def test_files_that_are_not_models(tmp_path, model_path):
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    assert "not a GGUF" in can_learn(text).reason
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(model_path.read_bytes()[:4096])
    check = can_learn(truncated)
    assert check.trainer is None and "truncated" in check.reason
    with pytest.raises(HeaderError):
        read_header(tmp_path / "missing.gguf")


def test_incomplete_family_tensors(tmp_path, model_path):
    # A qwen2 header over llama's tensor set lacks the q/k/v biases qwen2 always has.
    path = write_tiny_model(tmp_path / "odd.gguf", "llama", model_path)
    header = read_header(path)
    assert header.arch == "llama" and ARCHITECTURES["llama"].required_tensors(2) <= header.tensor_names()
    missing = ARCHITECTURES["qwen2"].required_tensors(2) - header.tensor_names()
    assert missing == {f"blk.{i}.attn_{x}.bias" for i in range(2) for x in "qkv"}


def test_mlx_is_refused_per_model_for_what_its_converter_lacks(tmp_path, model_path):
    plain = write_tiny_model(tmp_path / "smol.gguf", "llama", model_path)
    assert can_learn(plain, MLX, mlx_installed=True).trainer == MLX
    llama3 = write_tiny_model(tmp_path / "llama3.gguf", "llama", model_path, llama3_rope=True)
    assert can_learn(llama3, MLX, mlx_installed=True).trainer == MLX  # (arch-mlx) converts it
    # YaRN scaling is what the MLX converter still refuses (a header is all can_learn reads).
    yarn = dataclasses.replace(read_header(plain), metadata={
        **read_header(plain).metadata, "llama.rope.scaling.type": "yarn"})
    assert "yarn RoPE scaling" in ARCHITECTURES["llama"].blocker(MLX, yarn)


def test_gemma3_trains_at_its_own_lora_alpha_and_llama_at_the_trainers(tmp_path, model_path):
    from ondevice.architectures import family_defaults
    from ondevice.training.llamacpp_trainer import LlamaCppTrainer

    defaults = LlamaCppTrainer.default_args
    gemma = write_tiny_model(tmp_path / "gemma.gguf", "gemma3", model_path, chat_template=None)
    tuned = family_defaults(defaults, gemma)
    assert tuned.alpha == ARCHITECTURES["gemma3"].lora_alpha < defaults.alpha
    assert dataclasses.replace(tuned, alpha=defaults.alpha) == defaults  # nothing else changes
    assert family_defaults(defaults, model_path) == defaults  # llama keeps the trainer's
    assert family_defaults(defaults, tmp_path / "missing.gguf") == defaults
