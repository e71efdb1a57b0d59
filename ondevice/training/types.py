"""The data every trainer takes and returns, so both trainers are interchangeable."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

ExampleSource = Literal["memory", "statement", "replay", "plain", "correction", "liked"]


@dataclass(frozen=True)
class Example:
    """One training conversation.

    `messages` are chat messages ({"role", "content"}); `text` is the same conversation
    rendered with the base model's own chat template, which is what trainers tokenize.
    """

    messages: tuple[dict, ...]
    text: str
    source: ExampleSource
    memory_id: int | None = None
    # Where the taught part (the assistant's answer) starts in `text`. Trainers teach the real
    # tokens from here on and keep every position before it close to the base model's own
    # prediction, so the prompts are not learned by heart. Replay examples teach nothing
    # (answer_start == len(text)): they only anchor the model to the base.
    answer_start: int = 0


@dataclass(frozen=True)
class Probe:
    """A held-out recall question: never trained on, answered from the weights alone."""

    memory_id: int
    question: str
    expected: str  # the answer counts as recalled when it contains this (case-insensitive)


@dataclass
class TrainingSet:
    examples: list[Example]
    probes: list[Probe]
    memory_hashes: dict[int, str] = field(default_factory=dict)  # memory id -> sha256 of text

    def texts(self) -> list[str]:
        return [example.text for example in self.examples]

    def answer_starts(self) -> list[int]:
        return [example.answer_start for example in self.examples]


@dataclass
class TrainArgs:
    """Hyper-parameters shared by both trainers (each may ignore what it cannot use)."""

    rank: int = field(default=8, metadata={"help": "LoRA rank r"})
    alpha: float = field(default=16.0, metadata={"help": "LoRA alpha; scale = alpha / rank"})
    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW learning rate"})
    iterations: int = field(default=60, metadata={"help": "optimizer steps"})
    batch_size: int = field(default=4, metadata={"help": "examples per step"})
    max_seq_len: int = field(default=256, metadata={"help": "tokens per example, longer is cut"})
    num_layers: int = field(default=16, metadata={"help": "train the last N transformer layers"})
    targets: tuple[str, ...] = field(
        default=("attn_q", "attn_v"), metadata={"help": "GGUF tensor kinds to adapt"}
    )
    completion_only: bool = field(
        default=True,
        metadata={"help": "teach only the answers; anchor the rest to the base (False: teach all)"},
    )
    anchor_weight: float = field(
        default=2.0, metadata={"help": "weight of the pull towards the base against the answers' loss"}
    )
    seed: int = field(default=0, metadata={"help": "random seed"})
    max_minutes: float | None = field(default=None, metadata={"help": "stop training after this"})
    threads: int | None = field(default=None, metadata={"help": "CPU threads (None: all)"})
    start_from: str | None = field(
        default=None,
        metadata={"help": "a GGUF LoRA of this shape whose factors training continues from (None: from zero)"},
    )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = list(self.targets)
        return data


@dataclass
class TrainedAdapter:
    """What a trainer returns: a GGUF LoRA adapter that llama.cpp loads beside the base GGUF."""

    path: Path
    trainer: str
    args: TrainArgs
    metrics: dict[str, Any]  # e.g. final_loss, train_tokens, tokens_per_s, peak_rss_mb, seconds


class TrainingCancelled(Exception):
    """Raised by a trainer when the callback asked it to stop."""


class UnsupportedModel(Exception):
    """The base GGUF's architecture is one this trainer cannot train."""


class ProgressCallback:
    """Progress leaves the training loop as plain dicts; `cancelled()` lets the caller stop it.

    Events: {"stage": "prepare"|"train"|"export", "step": int, "total": int, "loss": float, ...}
    """

    def __init__(
        self,
        on_event: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self._on_event = on_event
        self._should_stop = should_stop

    def report(self, event: dict) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def cancelled(self) -> bool:
        return bool(self._should_stop and self._should_stop())


class Trainer(ABC):
    """Both trainers: same input, same output artifact.

    Args (constructor): base_model_path (the Q4 GGUF the app runs), base_sha256,
    cache_dir (per-hash float copies live here), work_dir (scratch for this run).
    """

    name: str = ""
    # What the nightly job trains with (iterations are then sized to the set).
    default_args: TrainArgs = TrainArgs()

    def __init__(self, base_model_path: Path, base_sha256: str, cache_dir: Path, work_dir: Path):
        self.base_model_path = Path(base_model_path)
        self.base_sha256 = base_sha256
        self.cache_dir = Path(cache_dir)
        self.work_dir = Path(work_dir)

    @abstractmethod
    def train(
        self, dataset: TrainingSet, args: TrainArgs, callback: ProgressCallback
    ) -> TrainedAdapter:
        """Train a LoRA on `dataset.examples` and write `work_dir/adapter.gguf`.

        Raises TrainingCancelled when callback.cancelled() turns true, UnsupportedModel for
        a GGUF architecture it cannot train.
        """
