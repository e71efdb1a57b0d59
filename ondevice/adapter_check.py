"""Checks an adapter must pass before the app answers with it.

A LoRA with NaN or overflowing weights loads without complaint in llama.cpp and then every
answer comes out empty; a file that does not fit the base can abort the process. So the file is
read in Python first (names, shapes, finite numbers) and, once loaded, one short forward pass
must give finite logits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ondevice.engine import AdapterLoadError
from ondevice.training.gguf_lora import AdapterError, check_against_base, read_lora_gguf

PROBE_TEXT = b"Hello"  # any short text: only the logits' finiteness is looked at


def check_adapter_file(adapter_path: Path, base_path: Path) -> None:
    """Raise AdapterLoadError when the file is missing, unreadable, misshapen or not finite."""
    if not adapter_path.is_file():
        raise AdapterLoadError(f"The adapter file {adapter_path} is missing.")
    try:
        adapter = read_lora_gguf(adapter_path)
        check_against_base(adapter, base_path)
    except AdapterError as exc:
        raise AdapterLoadError(str(exc)) from exc
    bad = sorted(name for name, (a, b) in adapter.pairs.items()
                 if not (np.isfinite(a).all() and np.isfinite(b).all()))
    if bad:
        raise AdapterLoadError(
            f"The adapter {adapter_path.name} has weights that are not numbers (NaN or infinite) "
            f"in {len(bad)} tensor(s), e.g. {bad[0]}.")


def check_finite_logits(llama, adapter_name: str) -> None:
    """Run a tiny forward pass on a loaded llama_cpp.Llama; raise AdapterLoadError on NaN/inf logits."""
    tokens = llama.tokenize(PROBE_TEXT, add_bos=True, special=False)
    try:
        llama.eval(tokens)
        # The last token's logits, straight from llama.cpp (Llama.scores is only filled
        # when every position keeps its logits).
        logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),)).copy()
    finally:
        llama.reset()
    if not np.isfinite(logits).all():
        raise AdapterLoadError(
            f"The adapter {adapter_name} makes the model's output not a number (NaN or infinite).")
