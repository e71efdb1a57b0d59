"""Where a night's LoRA starts: from zero, or from the factors of an adapter trained before.

A night's time covers a fraction of the steps a large set of memories needs, and a night that
starts from zero repeats the last one. Starting from the promoted adapter lets the nights add
up. Both trainers train the same LoRA in the GGUF's layout, so either continues either one's
adapter. Whether a start is allowed (same base, same memories or more) is the job's question
(app/warm_start.py); here only the factors are read and checked against the planned LoRA.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .gguf_lora import AdapterError, read_lora_gguf
from .types import TrainArgs


class StartMismatch(Exception):
    """The adapter to start from is not a LoRA of the planned shape; the message says why."""


def lora_tensor_names(n_layer: int, args: TrainArgs) -> list[str]:
    """The GGUF tensors a LoRA of `args` changes on a model of `n_layer` layers (the last
    num_layers layers' targets), as both trainers adapt them."""
    first = max(0, n_layer - args.num_layers)
    return [f"blk.{i}.{kind}.weight" for i in range(first, n_layer) for kind in args.targets]


def starting_factors(path: Path, args: TrainArgs, names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{tensor: (A, B)} of the adapter at `path`, for a LoRA of `args` on the tensors `names`.

    The adapter may have been promoted at less than full strength (a smaller alpha). B is
    rescaled so that `args.alpha / r * B @ A` is the change that adapter made, exactly: the
    night continues from what was in use, not from the candidate before the gate weakened it.

    Raises:
        StartMismatch: unreadable file, or another rank or other tensors than planned.
    """
    try:
        lora = read_lora_gguf(Path(path))
    except AdapterError as exc:
        raise StartMismatch(str(exc)) from exc
    if lora.rank != args.rank:
        raise StartMismatch(f"the adapter has rank {lora.rank}, this night trains rank {args.rank}")
    if set(lora.pairs) != set(names):
        raise StartMismatch("the adapter changes other layers or tensors than this night trains")
    factor = np.float32(lora.alpha / args.alpha)
    pairs = {}
    for name in names:
        a, b = lora.pairs[name]
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            raise StartMismatch(f"the adapter's {name} holds values that are not numbers")
        pairs[name] = (a.astype(np.float32), (b * factor).astype(np.float32))
    return pairs
