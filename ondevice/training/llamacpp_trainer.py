"""The llama.cpp trainer: trains a low-rank weight delta with ggml-opt, exports a GGUF LoRA.

llama.cpp has no LoRA training, only full-tensor training (ggml-opt). So the trainer loads an
F32 copy of the base, lets AdamW update the chosen weight matrices in place, and after every
optimizer step writes `W_base + rank_r(W - W_base)` back, which keeps the learned delta exactly
rank r all along (truncating only at the end threw most of it away, see findings.md). At the end
each delta is split by SVD into LoRA factors. Only the answers are taught; ggml-opt has no loss
mask, so every other position gets a label sampled from the base model (see windows.py).
"""

from __future__ import annotations

import ctypes
import os
import resource
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import ggml_opt
from .f32_copy import ensure_f32_copy
from .gguf_lora import write_lora_gguf
from .low_rank import LowRankProjector
from .types import (
    ProgressCallback,
    TrainArgs,
    TrainedAdapter,
    Trainer,
    TrainingCancelled,
    TrainingSet,
    UnsupportedModel,
)
from .windows import BaseSampler, Packer, TokenizedExample, Window

SUPPORTED_ARCHITECTURES = ("llama",)
CTX_ALIGN = 256  # llama.cpp pads n_ctx to a multiple of this


class LlamaCppTrainer(Trainer):
    """Trainer for every platform without MLX: llama.cpp's ggml-opt on the CPU."""

    name = "llamacpp"
    # Measured on the 4 memories of tests/test_learning_e2e.py: lr 1e-3, or ffn_down among the
    # targets, drifted far (KL 1-3.5); q/v of the last 16 layers at lr 1e-4 for 80 steps recalled
    # 5 of 8 held-out questions at KL 0.087 (rank 8: 4 of 8 at 0.070).
    default_args = TrainArgs(rank=16, alpha=16.0, learning_rate=1e-4, iterations=80, batch_size=4,
                             num_layers=16, targets=("attn_q", "attn_v"))

    def train(
        self, dataset: TrainingSet, args: TrainArgs, callback: ProgressCallback
    ) -> TrainedAdapter:
        """Train a rank-`args.rank` delta on `dataset` and write `work_dir/adapter.gguf`.

        Args:
            dataset: examples already rendered with the base model's chat template.
            args: hyper-parameters; `alpha` is ignored (the delta is trained directly, so the
                adapter is written with alpha = rank, scale 1).
            callback: receives progress dicts; `cancelled()` stops the run.

        Returns:
            The adapter with metrics (final_loss, train_tokens, tokens_per_s, seconds,
            peak_rss_mb, energy_kept, ...).

        Raises:
            TrainingCancelled: the callback asked to stop; no adapter is left behind.
            UnsupportedModel: the base GGUF is not a llama-architecture model.
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

        _check_cancel(callback)
        callback.report({"stage": "prepare", "step": 0, "total": 2, "message": "float32 copy"})
        f32_path = ensure_f32_copy(self.base_model_path, self.base_sha256, self.cache_dir)
        _check_cancel(callback)
        callback.report({"stage": "prepare", "step": 1, "total": 2, "message": "loading"})

        first_layer = max(0, n_layer - args.num_layers)
        targets = [f"blk.{i}.{kind}.weight" for i in range(first_layer, n_layer) for kind in args.targets]
        threads = args.threads or os.cpu_count() or 1

        with _Session(f32_path, threads) as session:
            examples = _tokenize(session, dataset, args)
            n_ctx = _context_size([e.tokens for e in examples], args.batch_size)
            session.open_context(n_ctx)
            params = session.init_optimizer(set(targets), args.learning_rate)
            projector = LowRankProjector(params, args.rank, args.seed)
            prompts_masked = any(e.answer_from for e in examples)
            sampler = BaseSampler(f32_path, session.n_ctx, threads, args.seed) if prompts_masked else None
            callback.report({"stage": "prepare", "step": 2, "total": 2, "n_ctx": session.n_ctx})

            try:
                loop = _TrainLoop(session, projector, Packer(examples, session.n_ctx, args.seed), sampler)
                history = loop.run(args.iterations, callback, deadline)
            finally:
                if sampler is not None:
                    sampler.close()

            _check_cancel(callback)
            callback.report({"stage": "export", "step": 0, "total": 1})
            pairs, export_energy = projector.export()
            write_lora_gguf(
                adapter_path, arch, float(args.rank), pairs,
                metadata={"trainer": self.name, "base_sha256": self.base_sha256, "rank": args.rank},
            )
            callback.report({"stage": "export", "step": 1, "total": 1})
            metrics = _metrics(history, session.n_ctx, started, projector, export_energy)

        return TrainedAdapter(
            path=adapter_path,
            trainer=self.name,
            args=replace(args, alpha=float(args.rank)),  # what the adapter really uses
            metrics=metrics,
        )


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
        count = self._lc.llama_tokenize(self.vocab, data, len(data), buffer, size, True, True)
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
        # so cancellation, the time limit and the low-rank projection need no C callback.
        self._dataset = ggml_opt.dataset_init(
            ggml_opt.GGML_TYPE_I32, ggml_opt.GGML_TYPE_I32, n_ctx, n_ctx, 1, 1
        )
        self._result = ggml_opt.result_init()
        self.data = _int32_view(ggml_opt.dataset_data(self._dataset), n_ctx)
        self.labels = _int32_view(ggml_opt.dataset_labels(self._dataset), n_ctx)

    def init_optimizer(self, wanted: set[str], learning_rate: float) -> dict[str, "_Param"]:
        """Mark the `wanted` tensors trainable, set up AdamW; return views on their weights.

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
        self._opt_pars.adamw.alpha = learning_rate
        self._opt_pars.adamw.wd = 0.0  # decay would shrink the base weights, not the delta
        params = ggml_opt.llama_opt_params(
            n_ctx_train=0,
            param_filter=filter_fn,
            param_filter_ud=None,
            get_opt_pars=ggml_opt.constant_optimizer_params_fn(),
            get_opt_pars_ud=ctypes.cast(ctypes.pointer(self._opt_pars), ctypes.c_void_p),
            optimizer_type=ggml_opt.GGML_OPT_OPTIMIZER_TYPE_ADAMW,  # SGD diverges here
        )
        ggml_opt.opt_init(self.ctx, self.model, params)
        missing = sorted(wanted - set(found))
        if missing:
            raise ValueError("not trainable F32 tensors of this model: " + ", ".join(missing))
        return {name: _Param.of(name, tensor) for name, tensor in sorted(found.items())}

    def step(self, tokens: np.ndarray, labels: np.ndarray) -> float:
        """One optimizer step on n_ctx input tokens and their n_ctx labels; returns its loss."""
        self.data[:] = tokens[:-1]
        self.labels[:] = labels
        ggml_opt.result_reset(self._result)
        ggml_opt.opt_epoch(self.ctx, self._dataset, self._result, None, 1)
        return ggml_opt.result_loss(self._result)


@dataclass
class _Param:
    """A trainable weight: a numpy view on llama.cpp's memory plus its base value."""

    name: str
    weight: np.ndarray  # (n_out, n_in) view, writes go straight into the model
    base: np.ndarray  # copy taken before the first step

    @classmethod
    def of(cls, name: str, tensor: int) -> "_Param":
        head = ggml_opt.tensor_head(tensor)
        if head.type != ggml_opt.GGML_TYPE_F32 or not ggml_opt.tensor_is_host(tensor):
            raise RuntimeError(f"{name} is not an F32 tensor in host memory")
        n_in, n_out = int(head.ne[0]), int(head.ne[1])  # ggml ne[0] is the contiguous axis
        if head.ne[2] != 1 or head.ne[3] != 1 or ggml_opt.tensor_nbytes(tensor) != n_in * n_out * 4:
            raise RuntimeError(f"{name} is not a dense matrix")
        address = ggml_opt.tensor_data(tensor)
        if not _writable(address, n_in * n_out * 4):
            raise RuntimeError(f"{name} is in read-only memory (a memory-mapped model?)")
        raw = (ctypes.c_float * (n_in * n_out)).from_address(address)
        weight = np.ctypeslib.as_array(raw).reshape(n_out, n_in)
        return cls(name=name, weight=weight, base=weight.copy())


def _writable(address: int, nbytes: int) -> bool:
    """True unless /proc/self/maps says [address, address + nbytes) is not writable.

    Writing through numpy into a read-only page kills the whole process, so check first.
    """
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                span, perms = line.split()[:2]
                start, end = (int(x, 16) for x in span.split("-"))
                if start <= address < end:
                    return "w" in perms and address + nbytes <= end
    except OSError:  # not Linux: nothing to check against
        return True
    return False


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


# ---- loop and metrics ------------------------------------------------------------------------


class _TrainLoop:
    """Steps, projects, reports; stops on cancel (raises) or at the deadline (returns)."""

    def __init__(self, session: _Session, projector: LowRankProjector, packer: Packer,
                 sampler: BaseSampler | None):
        self.session = session
        self.projector = projector
        self.packer = packer
        self.sampler = sampler  # None: every label is the real next token

    def _labels(self, window: Window) -> np.ndarray:
        return self.sampler.labels(window) if self.sampler else window.tokens[1:]

    def run(self, total: int, callback: ProgressCallback, deadline: float | None) -> dict:
        losses: list[float] = []
        step_seconds = 0.0
        stopped_early = False
        for step in range(1, total + 1):
            _check_cancel(callback)
            if deadline is not None and time.monotonic() >= deadline:
                stopped_early = True
                break
            t0 = time.monotonic()
            window = self.packer.window()
            loss = self.session.step(window.tokens, self._labels(window))
            self.projector.project()
            step_seconds += time.monotonic() - t0
            losses.append(loss)
            tokens = step * self.session.n_ctx
            callback.report({
                "stage": "train", "step": step, "total": total, "loss": loss,
                "tokens_per_s": tokens / step_seconds if step_seconds else 0.0,
                "energy_kept": float(np.mean(list(self.projector.last_energy.values()))),
            })
        return {"losses": losses, "train_seconds": step_seconds, "stopped_early": stopped_early}


def _metrics(history: dict, n_ctx: int, started: float, projector: LowRankProjector,
             export_energy: float) -> dict:
    losses = history["losses"]
    train_tokens = len(losses) * n_ctx
    tail = losses[-3:]
    energies = list(projector.last_energy.values())
    return {
        "steps": len(losses),
        "stopped_early": history["stopped_early"],
        "first_loss": losses[0] if losses else None,
        "final_loss": float(np.mean(tail)) if tail else None,  # mean of the last 3 steps
        "loss_history": [round(x, 4) for x in losses],
        "n_ctx": n_ctx,
        "train_tokens": train_tokens,
        "tokens_per_s": train_tokens / history["train_seconds"] if history["train_seconds"] else 0.0,
        "seconds": time.monotonic() - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # share of each step's full-rank delta the rank-r projection kept (last step)
        "energy_kept": float(np.mean(energies)) if energies else 1.0,
        "energy_kept_min": float(np.min(energies)) if energies else 1.0,
        "energy_by_rank": projector.energy_by_rank(),
        "export_energy_kept": export_energy,
        "lora_alpha": float(projector.rank),
        "trained_tensors": len(projector.params),
    }


def _check_cancel(callback: ProgressCallback) -> None:
    if callback.cancelled():
        raise TrainingCancelled("training was cancelled")


def _read_architecture(path: Path) -> tuple[str, int]:
    """The base GGUF's architecture and layer count; UnsupportedModel if it is not llama."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = reader.fields["general.architecture"].contents()
    if arch not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedModel(
            f"The llama.cpp trainer only trains llama-architecture models; "
            f"{Path(path).name} is '{arch}'."
        )
    return arch, int(reader.fields[f"{arch}.block_count"].contents())
