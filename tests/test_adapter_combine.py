"""Adapter shards trained on disjoint memories load as one file: `combine_adapters` stacks their
factors so the file's change is exactly the sum of theirs, in numpy and in llama.cpp."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from ondevice.training.gguf_lora import AdapterError, combine_adapters, read_lora_gguf, write_lora_gguf
from tests.learning_helpers import write_small_lora


def test_the_combined_change_is_the_sum_of_the_shards_changes_tensor_by_tensor(tmp_path):
    rng = np.random.default_rng(1)
    q, v = "blk.0.attn_q.weight", "blk.1.attn_v.weight"
    one = write_lora_gguf(tmp_path / "one.gguf", "llama", 16.0,
                          {q: (rng.normal(size=(4, 8)), rng.normal(size=(8, 4)))})
    two = write_lora_gguf(tmp_path / "two.gguf", "llama", 3.0,
                          {q: (rng.normal(size=(2, 8)), rng.normal(size=(8, 2))),
                           v: (rng.normal(size=(2, 8)), rng.normal(size=(6, 2)))})
    both = read_lora_gguf(combine_adapters([one, two], tmp_path / "both.gguf", {"shards": "2"}))
    a, b = read_lora_gguf(one), read_lora_gguf(two)
    assert np.allclose(both.delta(q), a.delta(q) + b.delta(q), atol=1e-5)
    assert np.allclose(both.delta(v), b.delta(v), atol=1e-5)  # a tensor only one shard adapts
    assert both.metadata == {"shards": "2"}


def test_adapters_of_different_architectures_are_not_combined(tmp_path):
    pairs = {"blk.0.attn_q.weight": (np.ones((2, 4)), np.ones((4, 2)))}
    one = write_lora_gguf(tmp_path / "one.gguf", "llama", 2.0, pairs)
    two = write_lora_gguf(tmp_path / "two.gguf", "qwen2", 2.0, pairs)
    with pytest.raises(AdapterError, match="different architectures"):
        combine_adapters([one, two], tmp_path / "both.gguf")
    assert not (tmp_path / "both.gguf").exists()


def _logits(model_path, adapters: list, tokens: list[int]) -> np.ndarray:
    """Last-position logits of llama.cpp with every adapter in `adapters` applied at scale 1."""
    import llama_cpp
    from llama_cpp import Llama

    llama = Llama(model_path=str(model_path), n_ctx=64, logits_all=True, verbose=False, n_threads=2)
    loaded = []
    try:
        for path in adapters:
            adapter = llama_cpp.llama_adapter_lora_init(llama.model, str(path).encode())
            assert adapter, f"llama.cpp refused {path}"
            loaded.append(adapter)
        if loaded:
            array = (llama_cpp.llama_adapter_lora_p_ctypes * len(loaded))(*loaded)
            scales = (ctypes.c_float * len(loaded))(*([1.0] * len(loaded)))
            assert llama_cpp.llama_set_adapters_lora(llama.ctx, array, len(loaded), scales) == 0
        llama.eval(tokens)
        return np.array(llama.scores[len(tokens) - 1], dtype=np.float64)
    finally:  # an adapter is freed before its model (freeing the model frees it too)
        if loaded:
            llama_cpp.llama_set_adapters_lora(llama.ctx, None, 0, None)
        for adapter in loaded:
            llama_cpp.llama_adapter_lora_free(adapter)
        llama.close()


def test_llama_cpp_gives_the_same_logits_for_the_combined_file_as_for_both_shards_at_once(model_path, tmp_path):
    from llama_cpp import Llama

    one = write_small_lora(tmp_path / "one.gguf", scale=0.3, layers=4, seed=1)
    two = write_small_lora(tmp_path / "two.gguf", scale=0.3, layers=2, seed=2)
    both = combine_adapters([one, two], tmp_path / "both.gguf")
    vocab = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    tokens = vocab.tokenize(b"My daughter Lumi is seven and she plays the cello.", add_bos=True)
    base = _logits(model_path, [], tokens)
    separate = _logits(model_path, [one, two], tokens)
    combined = _logits(model_path, [both], tokens)
    assert np.abs(separate - base).max() > 0.1  # the shards really change the model
    assert np.corrcoef(separate, combined)[0, 1] > 0.9999
    assert np.abs(separate - combined).max() < 0.02 * np.abs(separate - base).max()
