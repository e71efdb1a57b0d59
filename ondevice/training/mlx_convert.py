"""Turn the app's base GGUF into an mlx-lm model directory (float32), cached per base hash.

`transformers` cannot read a GGUF without torch and no model hub is reachable, so the
conversion is done here from the GGUF alone: dequantized weights renamed to Hugging Face Llama
names (q/k rows put back into HF's RoPE order), a config.json from the GGUF metadata and a
`tokenizers` tokenizer rebuilt from the GGUF vocabulary so MLX sees the same token ids as
llama.cpp.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from .rope import unpermute_rows
from ..process import pid_alive
from .types import UnsupportedModel

# Bump when the output layout changes, so stale caches are rebuilt instead of trusted.
CONVERTER_VERSION = 1
MARKER = "nocturne_convert.json"

SUPPORTED_ARCHITECTURES = ("llama",)

# GGUF tensor kind -> HF module path inside `model.layers.N`.
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
}
GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}

# llama.cpp token types (gguf.TokenType): CONTROL and USER_DEFINED tokens are added tokens.
TOKEN_CONTROL = 3
TOKEN_USER_DEFINED = 4


class GgufModel:
    """The metadata of a GGUF we need, decoded once (architecture, sizes, tokenizer)."""

    def __init__(self, path: Path):
        import gguf

        self.path = Path(path)
        self.reader = gguf.GGUFReader(str(self.path))
        self.arch = str(self.field("general.architecture") or "")

    def field(self, key: str, default=None):
        """A metadata value as a Python scalar, string or list (None/default when absent)."""
        import gguf

        field = self.reader.fields.get(key)
        if field is None or not field.types:
            return default
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            if len(field.types) > 1 and field.types[1] == gguf.GGUFValueType.STRING:
                return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
            return [field.parts[i][0].item() for i in field.data]
        if field.types[0] == gguf.GGUFValueType.STRING:
            return bytes(field.parts[field.data[0]]).decode("utf-8")
        return field.parts[field.data[0]][0].item()

    def arch_field(self, key: str, default=None):
        return self.field(f"{self.arch}.{key}", default)

    @property
    def n_head(self) -> int:
        return int(self.arch_field("attention.head_count"))

    @property
    def n_head_kv(self) -> int:
        return int(self.arch_field("attention.head_count_kv", self.n_head))


def require_supported(model: GgufModel) -> None:
    """Raise UnsupportedModel unless the GGUF is an architecture the MLX trainer handles."""
    if model.arch not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedModel(
            f"{model.path.name}: architecture '{model.arch or 'unknown'}' is not supported by the "
            f"MLX trainer (supported: {', '.join(SUPPORTED_ARCHITECTURES)})"
        )


def ensure_mlx_model(gguf_path: Path, base_sha256: str, cache_dir: Path) -> Path:
    """Return the cached mlx-lm directory for this base model, converting it on first use.

    Args:
        gguf_path: the base GGUF (any llama quantization gguf can dequantize).
        base_sha256: sha256 of that file; it names the cache entry.
        cache_dir: the app's cache directory; the model lands in cache_dir/mlx/<sha256>/.

    Returns:
        The model directory (config.json, model.safetensors, tokenizer files).

    Raises:
        UnsupportedModel: the GGUF is not a llama-architecture model.
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
    """Write an mlx-lm Llama directory for `model` into `out_dir` (created).

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
    """An HF/mlx-lm Llama config.json from the GGUF's `llama.*` metadata."""
    names = {t.name for t in model.reader.tensors}
    n_embd = int(model.arch_field("embedding_length"))
    vocab = model.arch_field("vocab_size") or len(model.field("tokenizer.ggml.tokens"))
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": n_embd,
        "num_hidden_layers": int(model.arch_field("block_count")),
        "intermediate_size": int(model.arch_field("feed_forward_length")),
        "num_attention_heads": model.n_head,
        "num_key_value_heads": model.n_head_kv,
        "head_dim": int(model.arch_field("attention.key_length", n_embd // model.n_head)),
        "rms_norm_eps": float(model.arch_field("attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(model.arch_field("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(model.arch_field("context_length", 2048)),
        "vocab_size": int(vocab),
        # No separate output matrix in the GGUF means the embedding doubles as the LM head.
        "tie_word_embeddings": "output.weight" not in names,
        "torch_dtype": "float32",
    }
    for key, field in (("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id")):
        value = model.field(f"tokenizer.ggml.{field}")
        if value is not None:
            config[key] = int(value)
    if model.arch_field("rope.scaling.type") not in (None, "none"):
        raise UnsupportedModel(f"{model.path.name}: RoPE scaling is not supported yet")
    return config


def hf_weights(model: GgufModel):
    """Yield (HF name, float32 numpy array) for every tensor, q/k rows in HF order."""
    from gguf.quants import dequantize

    for tensor in model.reader.tensors:
        shape = tuple(int(n) for n in reversed(tensor.shape))  # GGUF ne is innermost-first
        array = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        array = array.reshape(shape)
        name = hf_name(tensor.name)
        if name.endswith("self_attn.q_proj.weight"):
            array = unpermute_rows(array, model.n_head, model.n_head)
        elif name.endswith("self_attn.k_proj.weight"):
            array = unpermute_rows(array, model.n_head, model.n_head_kv)
        yield name, np.ascontiguousarray(array)


def hf_name(gguf_name: str) -> str:
    """`blk.3.attn_q.weight` -> `model.layers.3.self_attn.q_proj.weight` (and the globals)."""
    if gguf_name in GLOBAL_NAMES:
        return GLOBAL_NAMES[gguf_name]
    prefix, layer, kind, suffix = gguf_name.split(".", 3)
    if prefix != "blk" or kind not in LAYER_NAMES:
        raise UnsupportedModel(f"unexpected tensor {gguf_name} for a llama model")
    return f"model.layers.{layer}.{LAYER_NAMES[kind]}.{suffix}"


def build_tokenizer(model: GgufModel):
    """A `tokenizers.Tokenizer` equal to llama.cpp's for a GPT-2 style (byte-level BPE) GGUF.

    Digits are split one by one before byte-level BPE, as llama.cpp's `smollm` (and most
    Llama-3 style) pre-tokenizers do; control tokens become special added tokens so chat
    markup like <|im_start|> maps to single ids.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    kind = model.field("tokenizer.ggml.model")
    if kind != "gpt2":
        raise UnsupportedModel(f"tokenizer '{kind}' is not supported (only byte-level BPE)")
    pre = model.field("tokenizer.ggml.pre", "default")
    if pre not in ("smollm", "default", "gpt2"):
        raise UnsupportedModel(f"pre-tokenizer '{pre}' is not supported yet")
    tokens = model.field("tokenizer.ggml.tokens")
    types = model.field("tokenizer.ggml.token_type") or [1] * len(tokens)
    merges = [tuple(m.split(" ", 1)) for m in model.field("tokenizer.ggml.merges")]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    splitters = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    if pre == "smollm":
        splitters.insert(0, pre_tokenizers.Digits(individual_digits=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(splitters)
    tokenizer.decoder = decoders.ByteLevel()
    added = [
        AddedToken(token, special=(kind == TOKEN_CONTROL), normalized=False)
        for token, kind in zip(tokens, types)
        if kind in (TOKEN_CONTROL, TOKEN_USER_DEFINED)
    ]
    tokenizer.add_special_tokens([t for t in added if t.special])
    tokenizer.add_tokens([t for t in added if not t.special])
    return tokenizer


def tokenizer_config(model: GgufModel) -> dict:
    """tokenizer_config.json: chat template and special tokens, for `transformers` users."""
    tokens = model.field("tokenizer.ggml.tokens")

    def token(key: str):
        index = model.field(f"tokenizer.ggml.{key}")
        return tokens[index] if index is not None and 0 <= index < len(tokens) else None

    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": token("bos_token_id"),
        "eos_token": token("eos_token_id"),
        "unk_token": token("unknown_token_id"),
        "pad_token": token("padding_token_id"),
        "add_bos_token": bool(model.field("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(model.field("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(model.arch_field("context_length", 2048)),
    }
    template = model.field("tokenizer.chat_template")
    if template:
        config["chat_template"] = template
    return {key: value for key, value in config.items() if value is not None}


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
