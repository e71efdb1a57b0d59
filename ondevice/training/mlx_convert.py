"""Turn the app's base GGUF into an mlx-lm model directory (float32), cached per base hash.

`transformers` cannot read a GGUF without torch and no model hub is reachable, so the
conversion is done here from the GGUF alone: dequantized weights renamed to the Hugging Face
names of mlx-lm's own class for the family (llama, qwen2, qwen3, gemma3_text), undoing what
llama.cpp's converter did to them (q/k RoPE row order, Gemma's +1 on norms), a config.json
from the GGUF metadata, and a tokenizer rebuilt from the GGUF vocabulary (`gguf_tokenizer`)
so MLX sees the same token ids as llama.cpp.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from ..architectures import ARCHITECTURES, Architecture
from ..process import pid_alive
from .gguf_file import GgufFile
from .gguf_tokenizer import build_tokenizer, require_supported_tokenizer, tokenizer_config
from .rope import unpermute_rows
from .types import UnsupportedModel

# Bump when the output layout changes, so stale caches are rebuilt instead of trusted.
CONVERTER_VERSION = 2
MARKER = "nocturne_convert.json"
# config.json key holding Llama 3's per-frequency RoPE divisors (the GGUF's rope_freqs).
FREQ_FACTORS_KEY = "nocturne_rope_freq_factors"

# GGUF tensor kind -> HF module path inside `model.layers.N`, shared by every family.
LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "post_attention_norm": "post_attention_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
}
GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def mlx_family(arch: str) -> Architecture:
    """The table entry for `arch`, if the MLX trainer handles it (else UnsupportedModel)."""
    family = ARCHITECTURES.get(arch)
    if family is None or family.mlx_blocker:
        supported = [name for name, entry in ARCHITECTURES.items() if not entry.mlx_blocker]
        why = f": {family.mlx_blocker}" if family else ""
        raise UnsupportedModel(
            f"architecture '{arch or 'unknown'}' is not supported by the MLX trainer{why} "
            f"(supported: {', '.join(supported)})"
        )
    return family


def layer_names(family: Architecture) -> dict[str, str]:
    """GGUF tensor kind -> HF module for this family."""
    names = dict(LAYER_NAMES)
    if "post_attention_norm" in family.extra_layer_norms:
        # With a norm after attention (Gemma), HF's post_attention_layernorm is that one and
        # GGUF's ffn_norm is the norm before the feed-forward block.
        names["ffn_norm"] = "pre_feedforward_layernorm"
    return names


def rope_permuted(family: Architecture) -> bool:
    """llama.cpp's converter permuted q/k rows: its "norm" RoPE rotates adjacent pairs."""
    return family.rope_type == "norm"


class GgufModel:
    """The metadata and tensors of a GGUF, read once (architecture, sizes, tokenizer)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.file = GgufFile(self.path)
        self.tensors = self.file.tensors
        self.arch = str(self.field("general.architecture") or "")

    def field(self, key: str, default=None):
        """A metadata value as a Python scalar, string or list (None/default when absent)."""
        return self.file.metadata.get(key, default)

    def arch_field(self, key: str, default=None):
        return self.field(f"{self.arch}.{key}", default)

    @property
    def n_head(self) -> int:
        return int(self.arch_field("attention.head_count"))

    @property
    def n_head_kv(self) -> int:
        return int(self.arch_field("attention.head_count_kv", self.n_head))


def require_supported(model: GgufModel) -> None:
    """Raise UnsupportedModel, from the header alone, unless the MLX trainer handles the GGUF."""
    try:
        mlx_family(model.arch)
    except UnsupportedModel as error:
        raise UnsupportedModel(f"{model.path.name}: {error}") from None
    require_supported_tokenizer(model)
    kind = model.arch_field("rope.scaling.type")
    if kind not in (None, "none", "linear"):
        raise UnsupportedModel(
            f"{model.path.name}: RoPE scaling '{kind}' is not supported by the MLX trainer "
            "(supported: Llama 3's, and linear)"
        )


def ensure_mlx_model(gguf_path: Path, base_sha256: str, cache_dir: Path) -> Path:
    """Return the cached mlx-lm directory for this base model, converting it on first use.

    Args:
        gguf_path: the base GGUF (any quantization `gguf` can dequantize).
        base_sha256: sha256 of that file; it names the cache entry.
        cache_dir: the app's cache directory; the model lands in cache_dir/mlx/<sha256>/.

    Returns:
        The model directory (config.json, model.safetensors, tokenizer files).

    Raises:
        UnsupportedModel: an architecture, tokenizer or RoPE scaling the trainer lacks.
    """
    root = Path(cache_dir) / "mlx"
    final = root / base_sha256
    if _is_current(final):
        return final
    model = GgufModel(gguf_path)
    require_supported(model)
    root.mkdir(parents=True, exist_ok=True)
    # Build beside the final path and rename: a killed conversion leaves only a temp dir,
    # never a directory that looks complete.
    tmp = root / f".{base_sha256}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        convert(model, tmp)
        if final.exists():  # stale version, or another process won the race
            if _is_current(final):
                return final
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _remove_stale_temps(root, base_sha256)
    return final


def convert(model: GgufModel, out_dir: Path) -> Path:
    """Write an mlx-lm model directory for `model` into `out_dir` (created).

    Args:
        model: the opened base GGUF.
        out_dir: a directory that does not exist yet or is empty.

    Returns:
        out_dir.
    """
    import mlx.core as mx

    require_supported(model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = build_config(model)
    weights = {name: mx.array(array) for name, array in hf_weights(model)}
    mx.save_safetensors(str(out_dir / "model.safetensors"), weights)
    del weights
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer = build_tokenizer(model)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(model), indent=2))
    (out_dir / MARKER).write_text(
        json.dumps({"converter_version": CONVERTER_VERSION, "source": model.path.name})
    )
    return out_dir


def build_config(model: GgufModel) -> dict:
    """An HF/mlx-lm config.json from the GGUF's `<arch>.*` metadata."""
    family = mlx_family(model.arch)
    names = {t.name for t in model.tensors}
    n_embd = int(model.arch_field("embedding_length"))
    vocab = model.arch_field("vocab_size") or len(model.field("tokenizer.ggml.tokens"))
    head_dim = int(model.arch_field("attention.key_length", n_embd // model.n_head))
    config = {
        "model_type": family.mlx_model_type,
        "architectures": [family.hf_class],
        "hidden_size": n_embd,
        "num_hidden_layers": int(model.arch_field("block_count")),
        "intermediate_size": int(model.arch_field("feed_forward_length")),
        "num_attention_heads": model.n_head,
        "num_key_value_heads": model.n_head_kv,
        "head_dim": head_dim,
        "rms_norm_eps": float(model.arch_field("attention.layer_norm_rms_epsilon", 1e-5)),
        # llama.cpp's default when the key is absent, whatever the family.
        "rope_theta": float(model.arch_field("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(model.arch_field("context_length", 2048)),
        "vocab_size": int(vocab),
        # No separate output matrix in the GGUF means the embedding doubles as the LM head.
        "tie_word_embeddings": "output.weight" not in names,
        "torch_dtype": "float32",
    }
    if family.sliding_window_pattern:
        # llama.cpp's Gemma 3: every 6th layer global, the others local with base 10000 and
        # no scaling; attention scaled by 1/sqrt(head_dim).
        config.update(
            sliding_window=int(model.arch_field("attention.sliding_window")),
            sliding_window_pattern=family.sliding_window_pattern,
            rope_local_base_freq=10000.0,
            query_pre_attn_scalar=head_dim,
        )
    for key, field in (("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id")):
        value = model.field(f"tokenizer.ggml.{field}")
        if value is not None:
            config[key] = int(value)
    scaling = rope_scaling(model)
    if scaling:
        config["rope_scaling"] = scaling
    return config


def rope_scaling(model: GgufModel) -> dict | None:
    """mlx-lm's `rope_scaling` for the GGUF, or None.

    Llama 3's scaling reaches a GGUF as a `rope_freqs` tensor of per-frequency divisors rather
    than as metadata; it becomes mlx-lm's llama3 RoPE whose frequencies `load_mlx_model` then
    sets to exactly those divisors (see FREQ_FACTORS_KEY).
    """
    factors = rope_freq_factors(model)
    if factors is not None:
        return {"rope_type": "llama3", "factor": max(factors), FREQ_FACTORS_KEY: factors}
    # Other kinds were refused by require_supported before any work.
    factor = model.arch_field("rope.scaling.factor")
    if model.arch_field("rope.scaling.type") == "linear" and factor not in (None, 1.0):
        return {"type": "linear", "factor": float(factor)}
    return None


def rope_freq_factors(model: GgufModel) -> list[float] | None:
    """The `rope_freqs` tensor (one divisor per rotated pair), if the GGUF has one."""
    for tensor in model.tensors:
        if tensor.name == "rope_freqs.weight":
            return [float(v) for v in tensor.to_float32().ravel()]
    return None


def hf_weights(model: GgufModel):
    """Yield (HF name, float32 numpy array) for every weight, in mlx-lm's conventions.

    q/k rows go back to HF's rotate-half order for families whose GGUF permuted them, and
    norms stored with Gemma's +1 folded in lose it again (mlx-lm's Gemma adds it back).
    """
    family = mlx_family(model.arch)
    names = layer_names(family)
    permuted = rope_permuted(family)
    for tensor in model.tensors:
        if tensor.name == "rope_freqs.weight":
            continue  # not a weight: it is in config.json (see rope_scaling)
        array = tensor.to_float32()
        name = hf_name(tensor.name, names, family.name)
        if permuted and name.endswith("self_attn.q_proj.weight"):
            array = unpermute_rows(array, model.n_head, model.n_head)
        elif permuted and name.endswith("self_attn.k_proj.weight"):
            array = unpermute_rows(array, model.n_head, model.n_head_kv)
        elif family.norm_weight_offset and tensor.name.endswith("norm.weight"):
            array = array - family.norm_weight_offset
        yield name, np.ascontiguousarray(array)


def hf_name(gguf_name: str, names: dict[str, str], arch: str) -> str:
    """`blk.3.attn_q.weight` -> `model.layers.3.self_attn.q_proj.weight` (and the globals)."""
    if gguf_name in GLOBAL_NAMES:
        return GLOBAL_NAMES[gguf_name]
    prefix, layer, kind, suffix = gguf_name.split(".", 3)
    module = names.get(kind) if prefix == "blk" else None
    if module is None:
        raise UnsupportedModel(f"unexpected tensor {gguf_name} for a {arch} model")
    return f"model.layers.{layer}.{module}.{suffix}"


def _is_current(path: Path) -> bool:
    """A cache entry is trusted only if it was finished by this converter version."""
    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("converter_version") == CONVERTER_VERSION


def _remove_stale_temps(root: Path, base_sha256: str) -> None:
    """Delete temp dirs left by killed conversions of this model (their pid is gone)."""
    for tmp in root.glob(f".{base_sha256}.tmp-*"):
        try:
            pid = int(tmp.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)
