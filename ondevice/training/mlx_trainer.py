"""The MLX trainer: mlx-lm LoRA layers on a float32 copy of the base, exported as a GGUF LoRA.

Run it in a process started with `blas.blas_env()` on Linux: with the mlx[cpu] wheel's own
BLAS a step is ~20x slower.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from . import gguf_lora
from .blas import openblas_active, set_openblas_threads
from .mlx_convert import (
    FREQ_FACTORS_KEY,
    GgufModel,
    ensure_mlx_model,
    layer_names,
    mlx_family,
    require_supported,
    rope_permuted,
)
from .rope import permute_rows, unpermute_rows
from .train_loop import check_cancel, peak_rss_mb
from .warm_start import starting_factors
from .types import (
    ProgressCallback,
    TrainArgs,
    TrainedAdapter,
    Trainer,
    TrainingSet,
)

# GGUF tensor kind (what TrainArgs.targets names) -> mlx-lm module key inside a layer.
TARGET_MODULES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
MODULE_TARGETS = {module: kind for kind, module in TARGET_MODULES.items()}


class MlxTrainer(Trainer):
    """LoRA training with mlx-lm's LoRA layers and a small AdamW loop of our own.

    The loop is ours (not `mlx_lm.tuner.train`) so that cancellation, the time limit and
    progress events follow the shared Trainer contract.
    """

    name = "mlx"
    # mlx-lm's LoRA defaults (rank 8, scale 20, last 16 layers) at lr 1e-4, anchor weight 2. On 20
    # memories this recalled 80% of held-out questions at drift KL 0.031 (bench/learning.py).
    default_args = TrainArgs(rank=8, alpha=160.0, learning_rate=1e-4, iterations=40, batch_size=4,
                             num_layers=16, targets=("attn_q", "attn_v"))

    def train(
        self, dataset: TrainingSet, args: TrainArgs, callback: ProgressCallback
    ) -> TrainedAdapter:
        """Train a LoRA on `dataset.texts()` and write `work_dir/adapter.gguf`.

        Args:
            dataset: rendered chat texts (loss on the answers, or every token when
                `args.completion_only` is off).
            args: shared hyper-parameters; targets are GGUF kinds (attn_q, ffn_up, ...).
            callback: receives prepare/train/export events; cancelled() stops the run.

        Returns:
            The adapter with metrics: final_loss (mean of the last 5 step losses, since one
            batch is noisy), first_loss, losses, train_tokens, tokens_per_s, seconds,
            seconds_per_step, peak_rss_mb, steps, stopped_early, openblas.

        Raises:
            UnsupportedModel: the base GGUF's architecture, tokenizer or RoPE is not handled.
            TrainingCancelled: callback.cancelled() turned true.
            ValueError: empty dataset or unknown target kinds.
        """
        import mlx.core as mx
        import mlx.nn as nn
        import mlx.optimizers as optim

        started = time.monotonic()
        gguf_model = GgufModel(self.base_model_path)
        require_supported(gguf_model)  # fail before the (slow) conversion
        if not dataset.examples:
            raise ValueError("the training set is empty")
        if args.iterations < 1:
            raise ValueError("iterations must be at least 1")
        if args.threads:
            set_openblas_threads(args.threads)
        self.work_dir.mkdir(parents=True, exist_ok=True)

        callback.report({"stage": "prepare", "step": 0, "total": 2, "message": "converting"})
        check_cancel(callback)
        model_dir = ensure_mlx_model(self.base_model_path, self.base_sha256, self.cache_dir)
        model, tokenizer = load_mlx_model(model_dir)
        callback.report({"stage": "prepare", "step": 1, "total": 2, "message": "tokenizing"})
        starts = dataset.answer_starts() if args.completion_only else None
        bos_id = bos_to_add(model_dir, tokenizer)
        sequences = encode(tokenizer, dataset.texts(), args.max_seq_len, starts, bos_id)
        check_cancel(callback)

        mx.random.seed(args.seed)
        apply_lora(model, args)
        if args.start_from:  # continue from an earlier adapter's factors (warm_start.py)
            names = sorted(lora_pairs(model, gguf_model)[0])
            put_factors(model, starting_factors(Path(args.start_from), args, names), gguf_model,
                        args.alpha / args.rank)
        optimizer = optim.AdamW(learning_rate=args.learning_rate, weight_decay=0.0)
        step_fn = nn.value_and_grad(model, anchored_loss)
        batches = iterate_batches(sequences, args.batch_size, args.seed)
        deadline = started + args.max_minutes * 60 if args.max_minutes else None

        callback.report({"stage": "prepare", "step": 2, "total": 2, "message": "training"})
        train_started = time.monotonic()
        losses: list[float] = []
        train_tokens = steps = 0
        for steps in range(1, args.iterations + 1):
            check_cancel(callback)
            (loss, ce, n_tokens), grads = step_fn(model, *next(batches), args.anchor_weight)
            optimizer.update(model, grads)
            mx.eval(model.trainable_parameters(), optimizer.state, loss, ce, n_tokens)
            losses.append(ce.item())  # the taught answers' loss (the anchor term starts at 0)
            train_tokens += int(n_tokens.item())
            elapsed = time.monotonic() - train_started
            callback.report(
                {
                    "stage": "train",
                    "step": steps,
                    "total": args.iterations,
                    "loss": losses[-1],
                    "tokens": train_tokens,
                    "seconds": elapsed,
                }
            )
            if deadline is not None and time.monotonic() >= deadline:
                break  # over the time budget: keep what was learned and still export
        train_seconds = time.monotonic() - train_started

        check_cancel(callback)
        callback.report({"stage": "export", "step": 0, "total": 1})
        path = export_adapter(
            model,
            gguf_model,
            self.work_dir / "adapter.gguf",
            metadata={"trainer": self.name, "base_sha256": self.base_sha256},
        )
        callback.report({"stage": "export", "step": 1, "total": 1, "path": str(path)})
        metrics = {
            "final_loss": float(np.mean(losses[-max(1, min(5, len(losses))) :])),
            "first_loss": losses[0],
            "losses": losses,
            "train_tokens": train_tokens,
            "tokens_per_s": train_tokens / train_seconds if train_seconds > 0 else 0.0,
            "seconds": time.monotonic() - started,
            "seconds_per_step": train_seconds / max(steps, 1),
            "peak_rss_mb": peak_rss_mb(),
            "steps": steps,
            "stopped_early": steps < args.iterations,
            # False on Linux means the slow reference BLAS was used (see blas.py).
            "openblas": openblas_active(),
        }
        return TrainedAdapter(path=path, trainer=self.name, args=args, metrics=metrics)


def load_mlx_model(model_dir: Path):
    """Load the converted float32 model and its `tokenizers` tokenizer.

    Args:
        model_dir: a directory written by `mlx_convert.ensure_mlx_model`.

    Returns:
        (mlx-lm model, tokenizers.Tokenizer). The tokenizer is loaded without `transformers`
        because only token ids are needed for training.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never let a library try the hub
    from mlx_lm.utils import load_model
    from tokenizers import Tokenizer

    model, config = load_model(Path(model_dir))
    _set_rope_freq_factors(model, config)
    return model, Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))


def _set_rope_freq_factors(model, config: dict) -> None:
    """Give mlx-lm's Llama 3 RoPE the GGUF's own per-frequency divisors.

    The GGUF keeps Llama 3's scaling only as those divisors (`rope_freqs`), not the parameters
    mlx-lm derives them from; mlx's `freqs` are periods, base^(2i/d) times the divisor.
    """
    import mlx.core as mx

    factors = (config.get("rope_scaling") or {}).get(FREQ_FACTORS_KEY)
    if factors is None:
        return
    head_dim = config["head_dim"]
    base = config["rope_theta"]
    periods = base ** (mx.arange(0, head_dim, 2, dtype=mx.float32) / head_dim)
    periods = periods * mx.array(factors, dtype=mx.float32)
    for layer in model.layers:
        layer.self_attn.rope._freqs = periods


def bos_to_add(model_dir: Path, tokenizer) -> int | None:
    """The BOS id llama.cpp puts before every text of this model, or None if it adds none."""
    config = json.loads((Path(model_dir) / "tokenizer_config.json").read_text())
    if not config.get("add_bos_token") or not config.get("bos_token"):
        return None
    return tokenizer.token_to_id(config["bos_token"])


def encode(
    tokenizer,
    texts: list[str],
    max_seq_len: int,
    answer_starts: list[int] | None = None,
    bos_id: int | None = None,
) -> list[tuple[list[int], int]]:
    """Token ids of each text, cut to `max_seq_len`; texts already hold their chat markup.

    Args:
        answer_starts: per text, the character where the trained part begins (None: all of it).
        bos_id: put before each text that does not already start with it, as llama.cpp's
            engine and trainer do for this model.

    Returns:
        (ids, index of the first taught token) per text; tokens before it are anchored to the
        base model. Texts under 2 tokens are dropped (nothing to predict).
    """
    encoded = tokenizer.encode_batch(texts, add_special_tokens=False)
    out = []
    for index, item in enumerate(encoded):
        lead = [bos_id] if bos_id is not None and item.ids[:1] != [bos_id] else []
        ids = (lead + item.ids)[:max_seq_len]
        start_char = answer_starts[index] if answer_starts else 0
        starts = [None] * len(lead) + [begin for begin, _end in item.offsets]
        first = next(
            (i for i, begin in enumerate(starts) if begin is not None and begin >= start_char),
            len(ids),
        )
        first = max(first, 1)  # the first token has no prediction
        if len(ids) >= 2:
            out.append((ids, first))
    return out


def iterate_batches(sequences: list[tuple[list[int], int]], batch_size: int, seed: int):
    """Endless (inputs, targets, teach, anchor) batches, reshuffled each epoch with a seeded RNG.

    Padding goes to the longest sequence in the batch. `teach` marks targets from each
    sequence's first taught token on, `anchor` the real positions before it; padding is in neither.
    """
    import mlx.core as mx

    rng = np.random.default_rng(seed)
    batch_size = max(1, min(batch_size, len(sequences)))
    while True:
        order = rng.permutation(len(sequences))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = [sequences[i] for i in order[start : start + batch_size]]
            width = max(len(ids) for ids, _first in batch)
            tokens = np.zeros((len(batch), width), dtype=np.int32)
            teach = np.zeros((len(batch), width - 1), dtype=np.float32)
            anchor = np.zeros_like(teach)
            for row, (ids, first) in enumerate(batch):
                tokens[row, : len(ids)] = ids
                teach[row, first - 1 : len(ids) - 1] = 1.0  # target j is token j + 1
                anchor[row, : first - 1] = 1.0
            yield (mx.array(tokens[:, :-1]), mx.array(tokens[:, 1:]), mx.array(teach),
                   mx.array(anchor))


def anchored_loss(model, inputs, targets, teach, anchor, anchor_weight=1.0):
    """Cross-entropy on taught positions plus `anchor_weight` x KL(base || model) on anchored ones.

    Each term is a mean over its own positions, so many prompt tokens do not drown the few
    answer tokens. The base model is the same model with its LoRA switched off.

    Returns:
        (loss, cross-entropy part, tokens processed: taught plus anchored).
    """
    import mlx.core as mx
    import mlx.nn as nn

    logits = model(inputs)
    n_teach = teach.sum()
    ce = (nn.losses.cross_entropy(logits, targets) * teach).sum() / mx.maximum(n_teach, 1)
    with lora_off(model):
        base = mx.stop_gradient(model(inputs))
    log_p = base - mx.logsumexp(base, axis=-1, keepdims=True)
    log_q = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    kl = (mx.exp(log_p) * (log_p - log_q)).sum(axis=-1)
    n_anchor = anchor.sum()
    return ce + anchor_weight * (kl * anchor).sum() / mx.maximum(n_anchor, 1), ce, n_teach + n_anchor


class lora_off:  # noqa: N801 - used like a function: `with lora_off(model):`
    """Temporarily zero every LoRA layer's scale: the model computes the base model's logits."""

    def __init__(self, model):
        from mlx_lm.tuner.lora import LoRALinear

        self._layers = [m for _, m in model.named_modules() if isinstance(m, LoRALinear)]
        self._scales: list[float] = []

    def __enter__(self):
        self._scales = [layer.scale for layer in self._layers]
        for layer in self._layers:
            layer.scale = 0.0

    def __exit__(self, *exc):
        for layer, scale in zip(self._layers, self._scales):
            layer.scale = scale


def apply_lora(model, args: TrainArgs) -> None:
    """Freeze the model and put LoRA layers on `args.targets` of the last `num_layers` layers.

    Args:
        model: an mlx-lm model (llama, qwen2, qwen3 or gemma3_text).
        args: rank, alpha (scale = alpha / rank), num_layers and GGUF target kinds.
    """
    from mlx_lm.tuner.utils import linear_to_lora_layers

    unknown = sorted(set(args.targets) - set(TARGET_MODULES))
    if unknown or not args.targets:
        raise ValueError(
            f"unknown LoRA targets {unknown or '(none)'}; choose from {sorted(TARGET_MODULES)}"
        )
    model.freeze()
    linear_to_lora_layers(
        model,
        min(args.num_layers, len(model.layers)),
        {
            "rank": args.rank,
            "scale": args.alpha / args.rank,
            "dropout": 0.0,
            "keys": [TARGET_MODULES[kind] for kind in args.targets],
        },
    )


def lora_pairs(model, gguf_model: GgufModel) -> tuple[dict, float]:
    """The model's LoRA weights in llama.cpp's GGUF layout.

    mlx-lm computes y += scale * (x @ lora_a) @ lora_b with lora_a (in, r), lora_b (r, out);
    llama.cpp adds alpha / r * B @ A with A (r, in), B (out, r) in GGUF row order, so
    A = lora_a.T, B = lora_b.T (q/k rows RoPE-permuted for the families whose GGUF permuted
    them, see `mlx_convert.rope_permuted`), and alpha = scale * r.

    Returns:
        ({base tensor name: (A, B)}, alpha).
    """
    from mlx_lm.tuner.lora import LoRALinear

    pairs, alphas = {}, set()
    permuted = rope_permuted(mlx_family(gguf_model.arch))
    for index, layer in enumerate(model.layers):
        for key, module in layer.named_modules():
            if not isinstance(module, LoRALinear):
                continue
            kind = MODULE_TARGETS[key]
            a = np.array(module.lora_a, dtype=np.float32).T
            b = np.array(module.lora_b, dtype=np.float32).T
            if permuted and kind == "attn_q":
                b = permute_rows(b, gguf_model.n_head, gguf_model.n_head)
            elif permuted and kind == "attn_k":
                b = permute_rows(b, gguf_model.n_head, gguf_model.n_head_kv)
            pairs[f"blk.{index}.{kind}.weight"] = (np.ascontiguousarray(a), np.ascontiguousarray(b))
            alphas.add(round(float(module.scale) * a.shape[0], 6))
    if len(alphas) != 1:
        raise ValueError(f"expected one LoRA alpha across layers, found {sorted(alphas)}")
    return pairs, alphas.pop()


def apply_gguf_lora(model, adapter: gguf_lora.LoraTensors, gguf_model: GgufModel) -> None:
    """Put a GGUF LoRA (from either trainer) on the MLX model: the inverse of `lora_pairs`.

    Lets MLX compute what llama.cpp computes with base + adapter, e.g. to check one trainer's
    adapter against the other runtime.
    """
    rank = next(iter(adapter.pairs.values()))[0].shape[0]
    put_factors(model, adapter.pairs, gguf_model, adapter.alpha / rank)


def put_factors(model, pairs: dict, gguf_model: GgufModel, scale: float) -> None:
    """Set {GGUF tensor: (A, B)} as the LoRA factors of the matching layers (a LoRA layer is made
    where there is none yet), at `scale`; the inverse of `lora_pairs`."""
    import mlx.core as mx
    from mlx_lm.tuner.lora import LoRALinear

    family = mlx_family(gguf_model.arch)
    names = layer_names(family)
    for tensor, (a, b) in pairs.items():
        _, layer, kind, _ = tensor.split(".", 3)
        if rope_permuted(family) and kind in ("attn_q", "attn_k"):
            heads = gguf_model.n_head if kind == "attn_q" else gguf_model.n_head_kv
            b = unpermute_rows(b, gguf_model.n_head, heads)
        parent, _, attribute = f"{layer}.{names[kind]}".rpartition(".")
        module = model.layers
        for part in parent.split("."):
            module = module[int(part)] if part.isdigit() else getattr(module, part)
        lora = getattr(module, attribute)
        if not isinstance(lora, LoRALinear):
            lora = LoRALinear.from_base(lora, r=a.shape[0], scale=scale)
            setattr(module, attribute, lora)
        lora.lora_a = mx.array(np.ascontiguousarray(a.T, dtype=np.float32))
        lora.lora_b = mx.array(np.ascontiguousarray(b.T, dtype=np.float32))


def export_adapter(
    model, gguf_model: GgufModel, path: Path, metadata: dict[str, str] | None = None
) -> Path:
    """Write the model's LoRA layers as a GGUF LoRA that llama.cpp loads beside the base.

    Args:
        model: an mlx-lm model with LoRA layers (see `apply_lora`).
        gguf_model: the base GGUF (architecture and head counts for the q/k permutation).
        path: where to write (atomically).
        metadata: extra strings stored as `nocturne.<key>`.

    Returns:
        path.
    """
    pairs, alpha = lora_pairs(model, gguf_model)
    return gguf_lora.write_lora_gguf(path, gguf_model.arch, alpha, pairs, metadata)
