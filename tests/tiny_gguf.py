"""Tiny random-weight GGUF models of each architecture, written with the `gguf` package.

Each has the family's real tensor names and metadata keys (gguf-py's MODEL_TENSORS and the
keys llama.cpp's loader reads) and the bundled SmolLM2's tokenizer (byte-level BPE) copied in,
so llama.cpp loads it and the trainers treat it like a downloaded model.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ondevice.architectures import ARCHITECTURES
from ondevice.chat_templates import KNOWN_TEMPLATES

N_LAYER, N_EMBD, N_HEAD, N_HEAD_KV, HEAD_DIM, N_FF = 2, 64, 4, 2, 16, 128
CHATML = KNOWN_TEMPLATES["chatml"]


@lru_cache(maxsize=2)
def _tokenizer_fields(source: Path) -> tuple[tuple, ...]:
    """(name, value, type, sub_type) of every `tokenizer.*` key of `source` but its chat template.

    Cached: gguf.GGUFReader takes tens of seconds to decode a 49k-token vocabulary here.
    """
    import gguf

    reader = gguf.GGUFReader(str(source))
    fields = []
    for field in reader.fields.values():
        if not field.name.startswith("tokenizer.") or field.name == "tokenizer.chat_template":
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        fields.append((field.name, field.contents(), vtype, sub_type))
    return tuple(fields)


def copy_tokenizer(writer, source: Path, chat_template: str | None) -> int:
    """Copy the tokenizer of `source` (a real GGUF) into `writer`; returns the vocab size."""
    vocab = 0
    for name, value, vtype, sub_type in _tokenizer_fields(Path(source)):
        writer.add_key_value(name, value, vtype, sub_type=sub_type)
        if name == "tokenizer.ggml.tokens":
            vocab = len(value)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    return vocab


def write_tiny_model(
    path: Path,
    arch: str,
    tokenizer_from: Path,
    *,
    chat_template: str | None = CHATML,
    llama3_rope: bool = False,
    extra_tensors: dict[str, np.ndarray] | None = None,
    split_max_tensors: int = 0,
    weight_type: str = "F32",
    seed: int = 0,
    weight_std: float = 0.02,
    norm_std: float = 0.0,
    n_layer: int = N_LAYER,
    n_embd: int = N_EMBD,
    n_head: int = N_HEAD,
    n_head_kv: int = N_HEAD_KV,
    head_dim: int = HEAD_DIM,
    n_ff: int = N_FF,
) -> Path:
    """Write a 2-layer, width-64 `arch` model to `path` (F32 weights, std 0.02).

    Args:
        path: output file (with split_max_tensors: the base name; parts are -0000i-of-0000n).
        arch: a key of ARCHITECTURES, or any other name (then llama's tensors are used, which is
            enough for a header that must be refused).
        tokenizer_from: a GGUF whose tokenizer is copied (the bundled model).
        chat_template: written as tokenizer.chat_template; None leaves it out (a base model).
        llama3_rope: add Llama 3's `rope_freqs.weight` frequency factors.
        extra_tensors: more tensors (e.g. expert weights a refused model has).
        split_max_tensors: >0 writes a split model with at most this many tensors per part.
        weight_std, norm_std: (MLX tests) larger weights make attention, and so RoPE
            and the sliding window, change the logits; norm weights 1 + N(0, norm_std) make
            every norm matter.
        n_layer: layers (mlx-lm's gemma3 needs a full sliding-window pattern, 6).
        n_embd, n_head, n_head_kv, head_dim, n_ff: the shapes (bench/architectures.py writes
            a 0.5B-scale model with them).
        weight_type: the GGML type of the layers' matrices (F32, F16, Q8_0, Q4_0, ...; quantized
            with gguf.quants as a downloaded model would be).

    Returns:
        The path of the model (the first part for a split model).
    """
    import gguf

    family = ARCHITECTURES.get(arch, ARCHITECTURES["llama"])
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), arch, split_max_tensors=split_max_tensors)
    writer.add_name(f"tiny-{arch}")
    writer.add_context_length(2048)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    if family.sliding_window_pattern:
        writer.add_sliding_window(4)  # smaller than a training window, so the mask matters
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    vocab = copy_tokenizer(writer, tokenizer_from, chat_template)
    writer.add_vocab_size(vocab)

    def matrix(n_out: int, n_in: int) -> np.ndarray:
        return (rng.standard_normal((n_out, n_in)) * weight_std).astype(np.float32)

    def norm(n: int) -> np.ndarray:
        if not norm_std:  # draw nothing, so the other weights stay what they were
            return np.ones(n, np.float32)
        return (1.0 + rng.standard_normal(n) * norm_std).astype(np.float32)

    writer.add_tensor("token_embd.weight", matrix(vocab, n_embd))
    writer.add_tensor("output_norm.weight", norm(n_embd))
    if family.tied_embeddings != "always":
        writer.add_tensor("output.weight", matrix(vocab, n_embd))
    if llama3_rope:
        writer.add_tensor("rope_freqs.weight", np.linspace(1.0, 8.0, head_dim // 2, dtype=np.float32))
    q_out, kv_out = n_head * head_dim, n_head_kv * head_dim
    shapes = {
        "attn_q": (q_out, n_embd), "attn_k": (kv_out, n_embd), "attn_v": (kv_out, n_embd),
        "attn_output": (n_embd, q_out), "ffn_gate": (n_ff, n_embd), "ffn_up": (n_ff, n_embd),
        "ffn_down": (n_embd, n_ff), "attn_q_norm": (head_dim,), "attn_k_norm": (head_dim,),
    }
    qtype = gguf.GGMLQuantizationType[weight_type]
    for i in range(n_layer):
        for kind in family.layer_weights:
            shape = shapes.get(kind, (n_embd,))  # the rest are the layer's n_embd-wide norms
            if len(shape) == 1:
                writer.add_tensor(f"blk.{i}.{kind}.weight", norm(shape[0]))
            elif qtype == gguf.GGMLQuantizationType.F32:
                writer.add_tensor(f"blk.{i}.{kind}.weight", matrix(*shape))
            else:
                packed = gguf.quants.quantize(matrix(*shape), qtype)
                writer.add_tensor(f"blk.{i}.{kind}.weight", packed, raw_dtype=qtype)
        for kind in family.layer_biases:
            writer.add_tensor(f"blk.{i}.{kind}.bias", (rng.standard_normal(shapes[kind][0]) * 0.02).astype(np.float32))
    for name, value in (extra_tensors or {}).items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if split_max_tensors:
        return sorted(Path(path).parent.glob(f"{Path(path).stem}-00001-of-*.gguf"))[0]
    return Path(path)
