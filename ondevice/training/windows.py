"""Training windows for ggml-opt: packed examples, which positions are taught, base targets.

ggml-opt trains on fixed windows of n_ctx tokens. Only the answers are taught; every other
position (system prompt, user questions, replayed text) is anchored to the base model's own
next-token distribution, which `BaseLogprobs` provides (label_hook.py turns both into labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .row_threads import log_softmax_in_place


@dataclass(frozen=True)
class TokenizedExample:
    tokens: list[int]
    answer_from: int  # index of the first taught token, where the answer starts (0: all of them)
    memory_id: int | None = None


@dataclass
class Window:
    """n_ctx + 1 tokens; `taught[j]` says whether the token j + 1 is taught (part of an answer)."""

    tokens: np.ndarray  # int32, n_ctx + 1
    taught: np.ndarray  # bool, n_ctx


class Packer:
    """Packs whole examples into windows of n_ctx + 1 tokens, in a seeded shuffled order.

    Every window starts at an example boundary; the example that does not fit is cut, and the
    next window starts with it again, so each example is also seen whole. Two examples of the
    same memory never share a window when it can be helped: the answer would be copied from the
    context instead of learned into the weights.
    """

    def __init__(self, examples: list[TokenizedExample], n_ctx: int, seed: int):
        self.examples = [e for e in examples if e.tokens]
        if not self.examples:
            raise ValueError("every example tokenized to nothing")
        self.size = n_ctx + 1
        self.rng = np.random.default_rng(seed)
        self.order: list[int] = []

    def _take(self, memories: set[int]) -> int:
        """Index (into self.order) of the next example whose memory is not in the window yet."""
        if not self.order:
            self.order = [int(i) for i in self.rng.permutation(len(self.examples))]
        for position, index in enumerate(self.order):
            memory = self.examples[index].memory_id
            if memory is None or memory not in memories:
                return position
        return 0  # every remaining example repeats a memory: accept it rather than stall

    def window(self) -> Window:
        """The next training window."""
        tokens: list[int] = []
        taught: list[bool] = []
        memories: set[int] = set()
        while len(tokens) < self.size:
            position = self._take(memories)
            example = self.examples[self.order[position]]
            if tokens and len(tokens) + len(example.tokens) > self.size:
                cut = self.size - len(tokens)  # cut; it opens the next window
                self._append(tokens, taught, example, cut)
                break
            self.order.pop(position)
            self._append(tokens, taught, example, len(example.tokens))
            if example.memory_id is not None:
                memories.add(example.memory_id)
        tokens, taught = tokens[: self.size], taught[: self.size]
        # label j is token j + 1: taught as is when that token is part of an answer
        return Window(np.asarray(tokens, dtype=np.int32), np.asarray(taught[1:], dtype=bool))

    @staticmethod
    def _append(tokens: list[int], taught: list[bool], example: TokenizedExample, count: int) -> None:
        tokens.extend(example.tokens[:count])
        taught.extend(i >= example.answer_from for i in range(count))


class BaseLogprobs:
    """The base model's next-token log-probabilities, the targets of the anchored positions.

    Args:
        model_path: the float copy training starts from (so the pull is towards the start).
        n_ctx: window length.
        threads: CPU threads.
    """

    def __init__(self, model_path: Path, n_ctx: int, threads: int):
        from llama_cpp import Llama

        self._llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True,
                          verbose=False, n_threads=threads, n_threads_batch=threads)

    def rows(self, window: Window, wanted: np.ndarray) -> np.ndarray:
        """float32 (wanted.sum(), n_vocab): log p_base(. | window.tokens[: j + 1]) for wanted j."""
        inputs = window.tokens[:-1]
        self._llm.reset()
        self._llm.eval(inputs.tolist())
        rows = np.asarray(self._llm.scores[: len(inputs)], dtype=np.float32)[wanted]  # a copy
        return log_softmax_in_place(rows)

    def close(self) -> None:
        self._llm.close()
