"""The one small interface every inference engine implements.

`stream(messages, options)` yields text pieces as they are generated and, last, one `Usage`
with token counts and timings. Callers (the chat service, benchmarks, evaluation) time
nothing themselves and never see an engine's own types.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterator


class EngineError(Exception):
    """The engine could not load or generate; the message says what to do."""


class AdapterLoadError(EngineError):
    """The LoRA adapter could not be used; the base model still can."""


@dataclass
class GenerationOptions:
    max_tokens: int = 512
    temperature: float = 0.0  # greedy: a 135M model answers best without sampling noise
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    json_schema: dict | None = None  # constrain the answer to JSON of this shape (a grammar)


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int
    ttft_ms: float  # time to first token: prompt processing plus the first sampled token
    duration_ms: float
    finish_reason: str  # stop | length | cancelled

    @property
    def tokens_per_s(self) -> float:
        """Decode speed: tokens after the first, over the time after the first."""
        decode_ms = self.duration_ms - self.ttft_ms
        if self.completion_tokens <= 1 or decode_ms <= 0:
            return 0.0
        return (self.completion_tokens - 1) / (decode_ms / 1000.0)


class Engine(ABC):
    """A loaded-on-demand model. One generation at a time (one queue per model)."""

    model_name: str = ""
    adapter_version: str | None = None

    @property
    @abstractmethod
    def loaded(self) -> bool: ...

    @abstractmethod
    def load(self) -> None:
        """Load the model now (slow: call it off the UI thread). Idempotent."""

    @property
    @abstractmethod
    def context_size(self) -> int: ...

    @abstractmethod
    def count_tokens(self, messages: list[dict]) -> int:
        """Tokens of `messages` rendered with the model's chat template, ready to answer."""

    @abstractmethod
    def stream(
        self,
        messages: list[dict],
        options: GenerationOptions | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[str | Usage]:
        """Yield text pieces, then one Usage. Stops early, cleanly, when `cancel` is set."""

    def close(self) -> None:
        """Free the model's memory."""
