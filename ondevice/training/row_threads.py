"""Row-wise numpy work over a window's logits, split between threads.

A training step spends about a second in numpy on (512, 49152) float32 arrays, one thread,
while the cores ggml computes on wait. numpy releases the GIL in its loops, so each thread
taking its own rows uses them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

import numpy as np

T = TypeVar("T")
MAX_THREADS = 4  # beyond this a 512-row window's chunks get too small to pay for a thread


def by_rows(n_rows: int, work: Callable[[int, int], T]) -> list[T]:
    """`work(start, end)` on contiguous row ranges covering [0, n_rows), in parallel; results in order."""
    threads = max(1, min(MAX_THREADS, os.cpu_count() or 1, n_rows))
    bounds = np.linspace(0, n_rows, threads + 1).astype(int)
    chunks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    if len(chunks) == 1:
        return [work(*chunks[0])]
    with ThreadPoolExecutor(len(chunks)) as pool:
        return list(pool.map(lambda chunk: work(*chunk), chunks))


def log_softmax_in_place(x: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities of the float32 matrix `x`, written into `x`; returns `x`."""

    def rows(start: int, end: int) -> None:
        z = x[start:end]
        z -= z.max(axis=1, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=1, keepdims=True))

    by_rows(x.shape[0], rows)
    return x
