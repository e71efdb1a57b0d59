"""The one table of per-architecture facts, and `can_learn`: may this model be trained here?

Conversion (GGUF -> MLX), training and adapter export all read their per-family facts from
`ARCHITECTURES`. Each fact is taken from llama.cpp (`convert_hf_to_gguf.py`,
`gguf-py/gguf/constants.py`, `src/llama-model.cpp`) or from mlx-lm's model files
(`mlx_lm/models/llama.py`, `qwen2.py`, `qwen3.py`, `gemma3_text.py`); the comment on each
entry says where a non-obvious one comes from.

`can_learn` answers from the GGUF header alone (milliseconds), before any replay or training
work, so the nightly job and the UI can say why a model cannot be trained.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .gguf_header import GGUFHeader, HeaderError, read_header

if TYPE_CHECKING:
    from .gguf_info import GgufInfo

LLAMACPP, MLX = "llamacpp", "mlx"

# Tensors every family shares, GGUF names (gguf-py constants.py TENSOR_NAMES).
_GLOBAL = ("token_embd.weight", "output_norm.weight")
_LAYER = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
          "ffn_up", "ffn_down")


@dataclass(frozen=True)
class Architecture:
    """What differs between the model families Nocturne trains.

    Tensor names are GGUF names; a per-layer name `attn_q` stands for `blk.{i}.attn_q.weight`.
    """

    name: str  # GGUF `general.architecture`
    hf_class: str  # the Hugging Face / mlx-lm class its checkpoints are, e.g. "Qwen2ForCausalLM"
    mlx_model_type: str  # mlx-lm's `model_type` (the module under mlx_lm/models)
    layer_weights: tuple[str, ...]  # per-layer `.weight` tensors every model of the family has
    layer_biases: tuple[str, ...] = ()  # per-layer `.bias` tensors (qwen2: q/k/v)
    optional_tensors: tuple[str, ...] = ("output.weight", "rope_freqs.weight")
    # llama.cpp's rope type: "norm" rotates adjacent pairs, so convert_hf_to_gguf permutes the
    # HF q/k rows (LlamaModel.permute); "neox" rotates halves as HF does: rows are not permuted.
    rope_type: str = "norm"
    qk_norm: bool = False  # RMSNorm on each head of q and k (attn_q_norm / attn_k_norm)
    # Added to every `*norm.weight` when converting HF -> GGUF: Gemma's RMSNorm multiplies by
    # (1 + w), llama.cpp by w, so the GGUF holds w + 1 (Gemma3Model.norm_shift) and mlx-lm's
    # gemma3 RMSNorm (which adds the 1 itself) needs w - 1.
    norm_weight_offset: float = 0.0
    # The token embeddings are multiplied by sqrt(n_embd) (llama.cpp: exact float; mlx-lm:
    # sqrt rounded to bfloat16 first).
    embedding_scale_sqrt_dim: bool = False
    activation: str = "silu"  # the gated FFN's activation: silu (SwiGLU) or gelu_tanh (GeGLU)
    # Norms after the attention and FFN blocks, before the residual add (gemma3).
    extra_layer_norms: tuple[str, ...] = ()
    # Every `sliding_window_pattern`-th layer attends globally, the others within
    # `{arch}.attention.sliding_window` tokens (0: no sliding window).
    sliding_window_pattern: int = 0
    # `output.weight` may be absent: the output projection then reuses token_embd.
    tied_embeddings: str = "optional"  # optional | always
    # RoPE scaling as GGUF stores it: `{arch}.rope.scaling.type` values the family uses, plus
    # "llama3" for Llama 3's frequency factors (the `rope_freqs.weight` tensor, no type key).
    rope_scaling: tuple[str, ...] = ("none",)
    # `tokenizer.ggml.model` / `tokenizer.ggml.pre` values of real GGUFs of the family.
    tokenizer_models: tuple[str, ...] = ("gpt2",)
    pre_tokenizers: tuple[str, ...] = ()
    # Why a trainer cannot train it (None: it can). MLX entries are filled by the MLX trainer's
    # converter as it learns each family.
    llamacpp_blocker: str | None = None
    mlx_blocker: str | None = None
    # What the MLX converter handles within the family so far (mlx_convert.py refuses the rest).
    mlx_pre_tokenizers: tuple[str, ...] = ()
    mlx_rope_scaling: tuple[str, ...] = ("none",)
    # The family's LoRA alpha where the trainers' default (160 at rank 8, tuned on SmolLM2)
    # moves it too far from the base model for the drift gate; None keeps the trainer's.
    lora_alpha: float | None = None

    def layer_tensor(self, layer: int, kind: str, suffix: str = "weight") -> str:
        return f"blk.{layer}.{kind}.{suffix}"

    def required_tensors(self, n_layer: int) -> set[str]:
        """Every tensor a complete GGUF of this family holds (optional ones excluded)."""
        names = set(_GLOBAL)
        for i in range(n_layer):
            names.update(self.layer_tensor(i, kind) for kind in self.layer_weights)
            names.update(self.layer_tensor(i, kind, "bias") for kind in self.layer_biases)
        return names

    def blocker(self, trainer: str, header: GGUFHeader | None = None) -> str | None:
        """Why `trainer` cannot train this family (or, given its header, this very model)."""
        if trainer == LLAMACPP:
            return self.llamacpp_blocker
        if self.mlx_blocker or header is None:
            return self.mlx_blocker
        pre = header.metadata.get("tokenizer.ggml.pre", "default")
        if pre not in self.mlx_pre_tokenizers:
            return f"the MLX trainer does not handle the '{pre}' pre-tokenizer yet"
        if _rope_scaling(header) not in self.mlx_rope_scaling:
            return f"the MLX trainer does not handle {_rope_scaling(header)} RoPE scaling yet"
        return None

    def trainers(self) -> tuple[str, ...]:
        return tuple(t for t in (LLAMACPP, MLX) if self.blocker(t) is None)


# The MLX converter rebuilds these tokenizers whatever the family (training/gguf_tokenizer.py;
# "default" is also SentencePiece's).
_MLX_PRE_TOKENIZERS = ("default", "gpt2", "smollm", "llama-bpe", "llama3", "llama-v3", "qwen2")

ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        # Llama 1-3, SmolLM2, TinyLlama, Mistral 7B (gguf MODEL_TENSORS[LLAMA]).
        Architecture(
            name="llama", hf_class="LlamaForCausalLM", mlx_model_type="llama",
            layer_weights=_LAYER, rope_type="norm",
            rope_scaling=("none", "linear", "llama3"),
            tokenizer_models=("gpt2", "llama"),
            pre_tokenizers=("llama-bpe", "smollm", "default"),
            mlx_pre_tokenizers=_MLX_PRE_TOKENIZERS,
            mlx_rope_scaling=("none", "linear", "llama3"),
        ),
        # Qwen2 / Qwen2.5: biases on q, k and v (qwen2.py: q/k/v_proj bias=True).
        Architecture(
            name="qwen2", hf_class="Qwen2ForCausalLM", mlx_model_type="qwen2",
            layer_weights=_LAYER, layer_biases=("attn_q", "attn_k", "attn_v"), rope_type="neox",
            rope_scaling=("none", "yarn"), pre_tokenizers=("qwen2",),
            mlx_pre_tokenizers=_MLX_PRE_TOKENIZERS, mlx_rope_scaling=("none", "linear"),
        ),
        # Qwen3 dense: no biases, RMSNorm on each q/k head (qwen3.py q_norm / k_norm).
        Architecture(
            name="qwen3", hf_class="Qwen3ForCausalLM", mlx_model_type="qwen3",
            layer_weights=_LAYER + ("attn_q_norm", "attn_k_norm"), rope_type="neox", qk_norm=True,
            rope_scaling=("none", "yarn"), pre_tokenizers=("qwen2",),
            mlx_pre_tokenizers=_MLX_PRE_TOKENIZERS, mlx_rope_scaling=("none", "linear"),
        ),
        # Gemma 3 text (gemma3_text.py): q/k norms, post-attention / post-FFW norms, GeGLU with
        # tanh-approximated GELU, embeddings scaled by sqrt(n_embd), 5 sliding-window layers per
        # global one, output tied to token_embd, SentencePiece vocabulary.
        Architecture(
            name="gemma3", hf_class="Gemma3ForCausalLM", mlx_model_type="gemma3_text",
            layer_weights=_LAYER + ("attn_q_norm", "attn_k_norm", "post_attention_norm", "post_ffw_norm"),
            rope_type="neox", qk_norm=True, norm_weight_offset=1.0, embedding_scale_sqrt_dim=True,
            activation="gelu_tanh", extra_layer_norms=("post_attention_norm", "post_ffw_norm"),
            sliding_window_pattern=6, tied_embeddings="always", rope_scaling=("none", "linear"),
            tokenizer_models=("llama",), pre_tokenizers=("default",),
            # ggml.c aborts: "unsupported glu op for backward pass: GEGLU" (tests/test_arch_training.py).
            llamacpp_blocker=("ggml has no backward pass for GEGLU (Gemma's gated GELU "
                              "feed-forward), so llama.cpp's optimizer cannot train it"),
            mlx_pre_tokenizers=_MLX_PRE_TOKENIZERS, mlx_rope_scaling=("none", "linear"),
            # Gemma 3 270M, 4 memories, 40 MLX steps (tests/test_real_gemma.py): alpha 160 drifted
            # KL 0.108 and no weaker copy kept any recall; alpha 80 drifted 0.068, and its 70%
            # copy passed the gate (0.038) recalling 33% against the base model's 0%.
            lora_alpha=80.0,
        ),
    )
}


def family_defaults(args, model_path: Path):
    """A trainer's default hyper-parameters (a TrainArgs) with the model family's own LoRA alpha,
    when its entry has one; read from the GGUF header (milliseconds)."""
    try:
        arch = ARCHITECTURES.get(read_header(Path(model_path)).arch)
    except HeaderError:
        return args
    return replace(args, alpha=arch.lora_alpha) if arch and arch.lora_alpha else args


# Families people run that neither trainer can train, and why (a sentence each).
REFUSED: dict[str, str] = {
    "qwen35": "Qwen3.5 mixes linear-attention (gated delta-net) layers with attention layers",
    "qwen35moe": "Qwen3.5 MoE mixes linear-attention layers with attention and uses mixture-of-experts layers",
    "qwen3next": "Qwen3-Next mixes linear-attention layers with attention and uses mixture-of-experts layers",
    "lfm2": "LFM2 is a hybrid of convolution and attention layers",
    "lfm2moe": "LFM2 MoE is a hybrid of convolution and attention layers with mixture-of-experts layers",
    "qwen2moe": "it is a mixture-of-experts model",
    "qwen3moe": "it is a mixture-of-experts model",
    "gemma3n": "Gemma 3n uses per-layer embeddings and altered attention blocks",
    "mamba": "it is a state-space model, not a transformer",
}
# Tensor name parts of mixture-of-experts layers (gguf constants: ffn_*_exps, ffn_gate_inp).
_EXPERT_MARKERS = ("_exps.", "ffn_gate_inp.")


@dataclass(frozen=True)
class LearnCheck:
    """The answer of `can_learn`: the trainer that would train the model, or why none can."""

    trainer: str | None
    reason: str  # one sentence, shown as is ("" when trainable with the wanted trainer)
    arch: str = ""

    @property
    def ok(self) -> bool:
        return self.trainer is not None


def can_learn(model_path: Path, wanted: str | None = None, mlx_installed: bool | None = None) -> LearnCheck:
    """Which trainer can train `model_path` here, or why none can; reads only the GGUF header
    (and checks once that the llama.cpp trainer's bindings match the installed library).

    Args:
        model_path: the GGUF (the first part of a split model, or any part).
        wanted: a trainer forced by the user (mlx | llamacpp); None or "auto": the platform's
            default, else the other trainer if only it handles the family.
        mlx_installed: whether the MLX trainer can be imported (None: look it up).

    Returns:
        LearnCheck(trainer, reason); trainer is None when the model cannot be trained.
    """
    name = Path(model_path).name
    try:
        header = read_header(Path(model_path))
    except HeaderError as exc:
        return LearnCheck(None, str(exc))
    arch = header.arch
    problem = _model_problem(header, name)
    if problem:
        return LearnCheck(None, problem, arch)
    family = ARCHITECTURES[arch]
    if mlx_installed is None:
        mlx_installed = importlib.util.find_spec("mlx") is not None
    forced = wanted not in (None, "auto")
    from .training.select import default_trainer, llamacpp_problem

    order = [wanted] if forced else [default_trainer(), *(t for t in (LLAMACPP, MLX) if t != default_trainer())]
    reasons = []
    for trainer in order:
        blocker = family.blocker(trainer, header)
        if blocker is None and trainer == MLX and not mlx_installed:
            blocker = "MLX is not installed (install Nocturne with its `mlx` extra)"
        if blocker is None and trainer == LLAMACPP:
            blocker = llamacpp_problem()
        if blocker is None:
            note = "" if trainer == order[0] else f"; the {order[0]} trainer cannot ({reasons[0]})"
            return LearnCheck(trainer, f"{name} ({arch}) trains with the {trainer} trainer{note}.", arch)
        reasons.append(blocker)
    because = "; ".join(f"{t}: {r}" for t, r in zip(order, reasons))
    return LearnCheck(None, f"{name} ({arch}) cannot be trained here ({because}).", arch)


def _rope_scaling(header: GGUFHeader) -> str:
    """The model's RoPE scaling as the table names it: none, linear, yarn, ... or llama3."""
    if "rope_freqs.weight" in header.tensor_names():
        return "llama3"  # Llama 3.1+ stores its scaled frequencies as factors, with no type key
    return str(header.arch_value("rope.scaling.type") or "none")


def _model_problem(header: GGUFHeader, name: str) -> str | None:
    """Why no trainer handles this GGUF at all, or None."""
    arch = header.arch
    if header.metadata.get("general.type") == "adapter":
        return f"{name} is a LoRA adapter, not a model."
    if arch in REFUSED:
        return f"{name} ({arch}) cannot be trained: {REFUSED[arch]}."
    if arch not in ARCHITECTURES:
        return (f"{name} is a '{arch or 'unknown'}' model; Nocturne trains "
                f"{', '.join(ARCHITECTURES)} models only.")
    experts = sorted(t for t in header.tensor_names() if any(m in t for m in _EXPERT_MARKERS))
    if experts:
        return f"{name} ({arch}) cannot be trained: it is a mixture-of-experts model ({experts[0]})."
    n_layer = header.arch_value("block_count")
    if not isinstance(n_layer, int) or n_layer < 1:
        return f"{name} lacks {arch}.block_count: the file is incomplete."
    missing = sorted(ARCHITECTURES[arch].required_tensors(n_layer) - header.tensor_names())
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        return f"{name} ({arch}) lacks tensors {', '.join(missing[:3])}{more}: the file is incomplete or not a standard {arch}."
    return None


def learn_reason(info: "GgufInfo", trainer: str | None = None) -> str | None:
    """Why nightly learning cannot train this model, or None when it can: `can_learn`'s answer
    (so the Models view and `nocturne models list` say what the nightly job will do) plus a chat
    template to train the answers in.

    Args:
        info: the model's header summary (its path and whether it has a chat template).
        trainer: the trainer setting (mlx | llamacpp | auto or None: the platform's default).
    """
    check = can_learn(info.path, trainer)
    if not check.ok:
        return check.reason
    if not info.chat_template:
        return f"{info.path.name} has no chat template to train answers in."
    return None
