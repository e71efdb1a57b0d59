"""The llama.cpp trainer: LoRA trained through llama.cpp's own training engine (ggml-opt).

llama.cpp trains whole tensors, not adapters, and its loss is cross-entropy on every position.
So the trainer loads an F32 copy of the base and, per step:
- rewrites ggml-opt's labels just before the loss runs so that only the answers are taught and
  every other position is anchored to the base model (label_hook.py);
- lets ggml-opt take a plain SGD step of known size on the chosen matrices, reads the exact
  gradient back from the weights and trains LoRA factors with it (lora_factors.py).
The result is the same LoRA, loss and optimizer as the MLX trainer, written as a GGUF LoRA.
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ggml_opt
from .f32_copy import ensure_f32_copy
from .gguf_lora import write_lora_gguf
from .host_memory import writable
from .label_hook import LabelHook, LossPlan
from .lora_factors import SGD_STEP, LoraFactors
from .types import (
    ProgressCallback,
    TrainArgs,
    TrainedAdapter,
    Trainer,
    TrainingSet,
    UnsupportedModel,
)
from .train_loop import TrainLoop, check_cancel, run_metrics
from .warm_start import lora_tensor_names, starting_factors
from .windows import BaseLogprobs, Packer, TokenizedExample

CTX_ALIGN = 256  # llama.cpp pads n_ctx to a multiple of this


class LlamaCppTrainer(Trainer):
    """Trainer for every platform without MLX: llama.cpp's ggml-opt on the CPU."""

    name = "llamacpp"
    # The MLX trainer's settings: both train the same LoRA with the same loss. On 20 memories this
    # recalled 90% of held-out questions at drift KL 0.034 (bench/learning.py).
    default_args = TrainArgs(rank=8, alpha=160.0, learning_rate=1e-4, iterations=40, batch_size=4,
                             num_layers=16, targets=("attn_q", "attn_v"))

    def train(
        self, dataset: TrainingSet, args: TrainArgs, callback: ProgressCallback
    ) -> TrainedAdapter:
        """Train a rank-`args.rank` LoRA on `dataset` and write `work_dir/adapter.gguf`.

        Args:
            dataset: examples already rendered with the base model's chat template.
            args: hyper-parameters (scale = alpha / rank, as in the MLX trainer).
            callback: receives progress dicts; `cancelled()` stops the run.

        Returns:
            The adapter with metrics (final_loss, train_tokens, tokens_per_s, seconds,
            peak_rss_mb, energy_by_rank, ...).

        Raises:
            TrainingCancelled: the callback asked to stop; no adapter is left behind.
            UnsupportedModel: the base GGUF is not a family this trainer handles
                (ondevice/architectures.py).
        """
        started = time.monotonic()
        deadline = started + args.max_minutes * 60 if args.max_minutes else None
        arch, n_layer = _read_architecture(self.base_model_path)
        if not dataset.examples:
            raise ValueError("the training set has no examples")
        if args.rank < 1 or args.num_layers < 1 or not args.targets:
            raise ValueError("rank, num_layers and targets must be positive / non-empty")

        self.work_dir.mkdir(parents=True, exist_ok=True)
        adapter_path = self.work_dir / "adapter.gguf"
        adapter_path.unlink(missing_ok=True)  # a stale adapter must not pass for this run's

        check_cancel(callback)
        callback.report({"stage": "prepare", "step": 0, "total": 2, "message": "float32 copy"})
        f32_path = ensure_f32_copy(self.base_model_path, self.base_sha256, self.cache_dir)
        check_cancel(callback)
        callback.report({"stage": "prepare", "step": 1, "total": 2, "message": "loading"})

        targets = lora_tensor_names(n_layer, args)
        threads = args.threads or os.cpu_count() or 1

        with _Session(f32_path, threads) as session:
            examples = _tokenize(session, dataset, args)
            n_ctx = _context_size([e.tokens for e in examples], args.batch_size)
            session.open_context(n_ctx)
            params = session.init_optimizer(set(targets))
            start = starting_factors(Path(args.start_from), args, sorted(params)) if args.start_from else None
            lora = LoraFactors(params, args.rank, args.alpha / args.rank, args.learning_rate, args.seed,
                               start=start)
            anchored = any(e.answer_from for e in examples)
            base = BaseLogprobs(f32_path, session.n_ctx, threads) if anchored else None
            callback.report({"stage": "prepare", "step": 2, "total": 2, "n_ctx": session.n_ctx})

            try:
                packer = Packer(examples, session.n_ctx, args.seed)
                loop = TrainLoop(session, lora, packer, base, args.anchor_weight)
                history = loop.run(args.iterations, callback, deadline)
            finally:
                if base is not None:
                    base.close()

            check_cancel(callback)
            callback.report({"stage": "export", "step": 0, "total": 1})
            write_lora_gguf(
                adapter_path, arch, float(args.alpha), lora.pairs(),
                metadata={"trainer": self.name, "base_sha256": self.base_sha256, "rank": args.rank},
            )
            callback.report({"stage": "export", "step": 1, "total": 1})
            metrics = run_metrics(history, session.n_ctx, started, lora)

        return TrainedAdapter(path=adapter_path, trainer=self.name, args=args, metrics=metrics)


# ---- model / context lifetime ----------------------------------------------------------------


class _Session:
    """One llama.cpp model + context for training; frees both (and the dataset) on exit."""

    def __init__(self, model_path: Path, threads: int):
        import llama_cpp

        self._lc = llama_cpp
        self.threads = threads
        self.model = None
        self.ctx = None
        self.n_ctx = 0
        self._dataset = None
        self._result = None
        self._opt_pars = None  # ctypes struct ggml reads before every step; must outlive ctx
        self.hook = LabelHook(before_loss=self._reset_gradients)  # its C callback must outlive ctx
        self._opt_ctx = None  # ggml-opt's context, learned from the first step's epoch callback
        self._on_batch = ggml_opt.ggml_opt_epoch_callback(self._remember_opt_ctx)
        llama_cpp.llama_backend_init()
        mparams = llama_cpp.llama_model_default_params()
        # The optimizer writes weights in place: a read-only mmap of the file would segfault.
        # (This llama.cpp has `load_mode`, no `use_mmap`; ctypes would silently accept the latter.)
        mparams.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE
        mparams.n_gpu_layers = 0
        self.model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), mparams)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {model_path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        bos = llama_cpp.llama_vocab_bos(self.vocab)
        self._bos_text = llama_cpp.llama_vocab_get_text(self.vocab, bos) if bos >= 0 else b""

    def __enter__(self) -> "_Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free in reverse order of creation; safe to call twice."""
        if self._dataset:
            ggml_opt.dataset_free(self._dataset)
            self._dataset = None
        if self._result:
            ggml_opt.result_free(self._result)
            self._result = None
        if self.ctx:
            self._lc.llama_free(self.ctx)  # also frees the ggml-opt context
            self.ctx = None
        if self.model:
            self._lc.llama_model_free(self.model)
            self.model = None

    def tokenize(self, text: str) -> list[int]:
        """Tokens of a chat-template-rendered text (special tokens parsed, BOS as the model wants)."""
        data = text.encode("utf-8")
        size = len(data) + 16
        buffer = (self._lc.llama_token * size)()
        # As the engine does: a template that writes the BOS text itself gets no second BOS.
        add_special = not (self._bos_text and data.startswith(self._bos_text))
        count = self._lc.llama_tokenize(self.vocab, data, len(data), buffer, size, add_special, True)
        if count < 0:
            raise RuntimeError("tokenization failed")
        return list(buffer[:count])

    def open_context(self, n_ctx: int) -> None:
        """Create the context with n_batch = n_ubatch = n_ctx, as ggml-opt requires.

        llama.cpp pads n_ctx up to a multiple of 256; if it padded further than we did, the
        context is rebuilt with the batch sizes it actually has (else opt_init asserts).
        """
        for _ in range(2):
            cparams = self._lc.llama_context_default_params()
            cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = n_ctx
            cparams.n_seq_max = 1
            cparams.n_threads = cparams.n_threads_batch = self.threads
            cparams.cb_eval = self.hook.callback
            self.ctx = self._lc.llama_init_from_model(self.model, cparams)
            if not self.ctx:
                raise RuntimeError("llama.cpp could not create a context")
            actual = int(self._lc.llama_n_ctx(self.ctx))
            if actual == n_ctx:
                break
            self._lc.llama_free(self.ctx)
            self.ctx, n_ctx = None, actual
        self.n_ctx = n_ctx
        # One datapoint, refilled before each step: the loop stays in Python between steps,
        # so cancellation, the time limit and the LoRA step need no C callback.
        self._dataset = ggml_opt.dataset_init(
            ggml_opt.GGML_TYPE_I32, ggml_opt.GGML_TYPE_I32, n_ctx, n_ctx, 1, 1
        )
        self._result = ggml_opt.result_init()
        self.data = _int32_view(ggml_opt.dataset_data(self._dataset), n_ctx)
        self.labels = _int32_view(ggml_opt.dataset_labels(self._dataset), n_ctx)

    def _install_hook(self) -> None:
        """Make the label hook run during training steps.

        llama.cpp hands `cb_eval` to its scheduler only when it builds a decode graph, and
        llama_opt_init replaces the scheduler: one decode after it installs the hook for the
        training steps, which use the same scheduler. In training mode a decode must fill the
        whole context.
        """
        tokens = (self._lc.llama_token * self.n_ctx)(*([self._lc.llama_vocab_bos(self.vocab)] * self.n_ctx))
        if self._lc.llama_decode(self.ctx, self._lc.llama_batch_get_one(tokens, self.n_ctx)) != 0:
            raise RuntimeError("llama.cpp could not run the model")

    def init_optimizer(self, wanted: set[str]) -> dict[str, "_Param"]:
        """Mark the `wanted` tensors trainable, with SGD of step SGD_STEP; return their weights.

        LoraFactors reads each step's gradient back from the weights (lora_factors.py).

        Raises:
            ValueError: a wanted tensor is not an F32 tensor of the model.
        """
        found: dict[str, int] = {}

        def param_filter(tensor, _userdata):  # called synchronously inside llama_opt_init
            name = ggml_opt.tensor_name(tensor)
            if name in wanted:
                found[name] = tensor
                return True
            return False

        filter_fn = ggml_opt.llama_opt_param_filter(param_filter)
        self._opt_pars = ggml_opt.default_optimizer_params()
        self._opt_pars.sgd.alpha = SGD_STEP
        self._opt_pars.sgd.wd = 0.0  # decay would change W by more than the gradient step
        params = ggml_opt.llama_opt_params(
            n_ctx_train=0,
            param_filter=filter_fn,
            param_filter_ud=None,
            get_opt_pars=ggml_opt.constant_optimizer_params_fn(),
            get_opt_pars_ud=ctypes.cast(ctypes.pointer(self._opt_pars), ctypes.c_void_p),
            optimizer_type=ggml_opt.GGML_OPT_OPTIMIZER_TYPE_SGD,
        )
        ggml_opt.opt_init(self.ctx, self.model, params)
        missing = sorted(wanted - set(found))
        if missing:
            raise ValueError("not trainable F32 tensors of this model: " + ", ".join(missing))
        self._install_hook()
        return {name: _Param.of(name, tensor) for name, tensor in sorted(found.items())}

    def step(self, tokens: np.ndarray, plan: LossPlan) -> dict[str, float]:
        """One SGD step on n_ctx + 1 tokens with the loss `plan` describes; returns its losses."""
        self.data[:] = tokens[:-1]
        self.labels[:] = tokens[1:]  # one-hot rows llama.cpp writes; the hook replaces them
        self.hook.arm(plan)
        ggml_opt.result_reset(self._result)
        ggml_opt.opt_epoch(self.ctx, self._dataset, self._result, None, 1, self._on_batch)
        return self.hook.take()

    def _remember_opt_ctx(self, _train, opt_ctx, *_rest) -> None:
        self._opt_ctx = opt_ctx

    def _reset_gradients(self) -> None:
        """Start each step's gradients from zero (see ggml_opt.reset_gradients).

        The first step starts from zero anyway; it is also the one that tells us opt_ctx.
        """
        if self._opt_ctx:
            ggml_opt.reset_gradients(self._opt_ctx)


@dataclass
class _Param:
    """A trainable weight: a numpy view on llama.cpp's memory plus its base value."""

    name: str
    weight: np.ndarray  # (n_out, n_in) view, writes go straight into the model
    base: np.ndarray  # copy taken before the first step

    @classmethod
    def of(cls, name: str, tensor: int) -> "_Param":
        head = ggml_opt.tensor_struct(tensor)
        if head.type != ggml_opt.GGML_TYPE_F32 or not ggml_opt.tensor_is_host(tensor):
            raise RuntimeError(f"{name} is not an F32 tensor in host memory")
        n_in, n_out = int(head.ne[0]), int(head.ne[1])  # ggml ne[0] is the contiguous axis
        if head.ne[2] != 1 or head.ne[3] != 1 or ggml_opt.tensor_nbytes(tensor) != n_in * n_out * 4:
            raise RuntimeError(f"{name} is not a dense matrix")
        address = ggml_opt.tensor_data(tensor)
        if not writable(address, n_in * n_out * 4):
            raise RuntimeError(f"{name} is in read-only memory (a memory-mapped model?)")
        raw = (ctypes.c_float * (n_in * n_out)).from_address(address)
        weight = np.ctypeslib.as_array(raw).reshape(n_out, n_in)
        return cls(name=name, weight=weight, base=weight.copy())


def _int32_view(tensor: int, count: int) -> np.ndarray:
    raw = (ctypes.c_int32 * count).from_address(ggml_opt.tensor_data(tensor))
    return np.ctypeslib.as_array(raw)


def _tokenize(session: _Session, dataset: TrainingSet, args: TrainArgs) -> list[TokenizedExample]:
    """Tokens of each example and where its answer starts (the prompt's own token count)."""
    out = []
    for example in dataset.examples:
        tokens = session.tokenize(example.text)[: args.max_seq_len]
        answer_from = 0
        if args.completion_only and example.answer_start:
            answer_from = len(session.tokenize(example.text[: example.answer_start]))
        out.append(TokenizedExample(tokens, answer_from, example.memory_id))
    return out


def _context_size(token_lists: list[list[int]], batch_size: int) -> int:
    """Tokens per step: about `batch_size` examples, at least one whole example + 1."""
    lengths = [len(t) for t in token_lists if t] or [1]
    wanted = max(int(np.mean(lengths) * batch_size), max(lengths) + 1)
    return -(-wanted // CTX_ALIGN) * CTX_ALIGN


def _read_architecture(path: Path) -> tuple[str, int]:
    """The base GGUF's architecture and layer count (header only).

    Raises:
        UnsupportedModel: no trainer, or not this one, handles the model; the message says why.
    """
    from ondevice.architectures import LLAMACPP, can_learn
    from ondevice.gguf_header import read_header

    check = can_learn(path, LLAMACPP)
    if not check.ok:
        raise UnsupportedModel(check.reason)
    header = read_header(path)
    return header.arch, int(header.arch_value("block_count"))
