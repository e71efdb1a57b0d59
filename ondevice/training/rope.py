"""llama.cpp's RoPE row order for attn_q / attn_k, and the way back to Hugging Face's.

HF Llama checkpoints rotate the two *halves* of each head (`rotate_half`); llama.cpp rotates
*adjacent pairs*. `convert_hf_to_gguf.py` therefore permutes the output rows of q_proj and
k_proj when it writes a GGUF. Anything that moves q/k weights (or LoRA B matrices, whose rows
are output rows too) between the two worlds must apply the same permutation.
"""

from __future__ import annotations

import numpy as np


def permute_rows(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """HF row order -> GGUF row order, exactly as llama.cpp's `convert_hf_to_gguf.permute`.

    Args:
        weights: array whose first axis is the projection's output rows (n_heads * head_dim),
            e.g. a q/k weight (n_out, n_in) or a LoRA B matrix (n_out, r).
        n_head: attention heads of the model (`llama.attention.head_count`).
        n_head_kv: key/value heads; when it differs from n_head (GQA) the rows belong to
            n_head_kv heads (that is the k projection).

    Returns:
        A new array, same shape, rows reordered so each head's halves become interleaved pairs.
    """
    heads = _heads(weights, n_head, n_head_kv)
    # (heads, 2, head_dim/2, ...) -> (heads, head_dim/2, 2, ...): half i, element j -> pair j.
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def unpermute_rows(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """GGUF row order -> HF row order: the inverse of `permute_rows`.

    Args:
        weights: array whose first axis is the projection's output rows, in GGUF order.
        n_head: attention heads of the model.
        n_head_kv: key/value heads (pass it for the k projection under GQA).

    Returns:
        A new array, same shape, in HF's rotate-half row order.
    """
    heads = _heads(weights, n_head, n_head_kv)
    return (
        weights.reshape(heads, weights.shape[0] // heads // 2, 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _heads(weights: np.ndarray, n_head: int, n_head_kv: int | None) -> int:
    """How many heads the rows of `weights` hold (llama.cpp's rule), checked to divide evenly."""
    heads = n_head_kv if n_head_kv is not None and n_head_kv != n_head else n_head
    if weights.shape[0] % (2 * heads):
        raise ValueError(f"{weights.shape[0]} rows cannot be split into {heads} heads of pairs")
    return heads
