"""A broken adapter (NaN or overflowing weights) never answers: the app falls back and says why."""

from __future__ import annotations

import numpy as np
import pytest

from app.context import Nocturne
from ondevice.adapters import AdapterRegistry
from ondevice.engine import AdapterLoadError
from ondevice.llama_engine import LlamaEngine
from ondevice.training.dataset import content_sha256
from ondevice.training.gguf_lora import write_lora_gguf
from tests.learning_helpers import HIDDEN, N_LAYER


def _lora(path, value: float):
    """A real GGUF LoRA on the bundled model's last two attn_q, every weight set to `value`."""
    pairs = {f"blk.{i}.attn_q.weight": (np.full((4, HIDDEN), value), np.full((HIDDEN, 4), value))
             for i in (N_LAYER - 2, N_LAYER - 1)}
    return write_lora_gguf(path, "llama", 4.0, pairs)


def test_a_nan_adapter_falls_back_to_the_base_model_and_is_not_retried(app, tmp_path):
    memory_id = app.memories().add("I live in Lyon")
    registry = AdapterRegistry(app.store, app.home)
    info = registry.promote(_lora(tmp_path / "nan.gguf", np.nan), app.model().sha256, "llamacpp", {}, {},
                            {memory_id: content_sha256("I live in Lyon")}, recalled=set())
    engine = app.load_engine()
    assert engine.adapter_version is None, "the NaN adapter was loaded"
    assert "not numbers" in app.notice and app.notice.endswith("Running on the base model.")
    assert registry.get(info.version).status == "broken"
    assert "".join(p for p in engine.stream([{"role": "user", "content": "Hi"}]) if isinstance(p, str))
    app.close()
    relaunched = Nocturne(app.home)
    try:
        assert relaunched.engine().adapter_path is None  # not tried again at the next launch
    finally:
        relaunched.close()


def test_finite_weights_that_overflow_fail_the_one_token_forward(app, tmp_path):
    engine = LlamaEngine(app.model(), adapter_path=_lora(tmp_path / "huge.gguf", 1e30), adapter_version="x")
    with pytest.raises(AdapterLoadError, match="not a number"):
        engine.load()
    assert not engine.loaded


def test_a_sane_adapter_passes_every_check(app, tmp_path):
    engine = LlamaEngine(app.model(), adapter_path=_lora(tmp_path / "small.gguf", 1e-4), adapter_version="x")
    engine.load()
    assert engine.loaded
    engine.close()
