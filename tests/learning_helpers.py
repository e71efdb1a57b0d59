"""Helpers shared by the learning tests: a tiny real LoRA, a real Trainer subclass, memories."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from app.store import now_iso
from ondevice.engine import Engine, Usage
from ondevice.training.gguf_lora import write_lora_gguf
from ondevice.training.types import (
    ProgressCallback,
    TrainArgs,
    TrainedAdapter,
    Trainer,
    TrainingCancelled,
    TrainingSet,
)

class ScriptedEngine(Engine):
    """A real Engine that answers each question from a script (the gate's reader is what we test)."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        pass

    @property
    def context_size(self) -> int:
        return 2048

    def count_tokens(self, messages):
        return sum(len(m["content"].split()) for m in messages)

    def answer(self, messages) -> str:
        return self.answers.get(messages[-1]["content"], "I don't know.")

    def stream(self, messages, options=None, cancel=None):
        yield self.answer(messages)
        yield Usage(1, 1, 1.0, 1.0, "stop")


HIDDEN = 576  # SmolLM2-135M's width: attn_q is (576, 576)
N_LAYER = 30


def write_small_lora(path: Path, scale: float = 1e-4, layers: int = 2, seed: int = 0) -> Path:
    """A real GGUF LoRA on attn_q of the last `layers` layers, with tiny random factors."""
    rng = np.random.default_rng(seed)
    pairs = {
        f"blk.{i}.attn_q.weight": (rng.normal(0, scale, (4, HIDDEN)), rng.normal(0, scale, (HIDDEN, 4)))
        for i in range(N_LAYER - layers, N_LAYER)
    }
    return write_lora_gguf(path, "llama", 4.0, pairs)


class TinyRandomTrainer(Trainer):
    """A real Trainer that 'trains' by writing a tiny random LoRA: fast, learns nothing.

    `seen` keeps the last dataset, so tests can check what the job handed over.
    """

    name = "llamacpp"
    seen: TrainingSet | None = None
    step_seconds = 0.0

    def train(self, dataset: TrainingSet, args: TrainArgs, callback: ProgressCallback) -> TrainedAdapter:
        type(self).seen = dataset
        for step in range(1, args.iterations + 1):
            if callback.cancelled():
                raise TrainingCancelled()
            callback.report({"stage": "train", "step": step, "total": args.iterations, "loss": 1.0 / step})
            time.sleep(self.step_seconds)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        path = write_small_lora(self.work_dir / "adapter.gguf")
        return TrainedAdapter(path, self.name, replace(args), {"final_loss": 0.5, "seconds": 0.1,
                                                               "tokens_per_s": 1000.0, "train_tokens": 100})


def add_memories(app, texts: list[str], status: str = "approved") -> list[int]:
    """Insert memories straight into the table (the memories service is not needed here)."""
    ids = []
    with app.store.transaction() as db:
        for text in texts:
            table = db["memories"]
            table.insert({"text": text, "kind": "fact", "status": status,
                          "created_at": now_iso(), "updated_at": now_iso()})
            ids.append(table.last_pk)
    return ids
