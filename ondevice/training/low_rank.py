"""Keep a trained weight delta at rank r during training, and split it into LoRA factors.

Used by the llama.cpp trainer, which trains whole tensors: projecting `W - W_base` back to rank r
after every step keeps what is learned representable by a rank-r adapter (findings.md).
"""

from __future__ import annotations

import numpy as np


class LowRankProjector:
    """Keeps every `W - W_base` at rank r and turns it into LoRA factors at the end.

    A full SVD per matrix per step costs seconds on a busy 2-core CPU (more than the step
    itself), so the projection uses a randomized range finder warm-started from the previous
    step's singular vectors: one step moves the top-r subspace only a little, and one power
    iteration then recovers it. The result is exactly rank r; it is the best rank-r
    approximation up to the range finder's (small, measured) error.
    """

    def __init__(self, params: dict, rank: int, seed: int = 0):
        # params: name -> object with .weight (a live numpy view) and .base (the copy before step 1)
        self.params = params
        self.rank = rank
        self.rng = np.random.default_rng(seed)
        self.factors: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # U, S, Vt
        self.last_energy: dict[str, float] = {}  # share of the delta kept by the last projection
        self.last_spectrum: dict[str, np.ndarray] = {}  # top squared singular values / total

    def project(self) -> None:
        """Write `W_base + rank_r(W - W_base)` back into each weight."""
        for name, param in self.params.items():
            delta = param.weight - param.base
            warm = self.factors.get(name)
            u, s, vt, total = top_singular(delta, self.rank, self.rng, warm[2] if warm else None)
            self.factors[name] = (u, s, vt)
            kept = float(np.square(s, dtype=np.float64).sum())
            self.last_energy[name] = kept / total if total > 0 else 1.0
            self.last_spectrum[name] = np.square(s, dtype=np.float64) / total if total > 0 else s * 0
            param.weight[:] = param.base + (u * s) @ vt

    def export(self) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float]:
        """LoRA factors A (r, n_in), B (n_out, r) with sqrt(S) on each side, scale 1.

        Returns:
            (pairs by tensor name, mean energy the rank-r factors keep of the current deltas,
            ~1.0 because the deltas were projected after every step).
        """
        pairs, energies = {}, []
        for name, param in self.params.items():
            delta = param.weight - param.base
            warm = self.factors.get(name)
            u, s, vt, total = top_singular(delta, self.rank, self.rng, warm[2] if warm else None)
            root = np.sqrt(s)
            a = np.zeros((self.rank, delta.shape[1]), np.float32)
            b = np.zeros((delta.shape[0], self.rank), np.float32)
            a[: s.size] = root[:, None] * vt
            b[:, : s.size] = u * root
            pairs[name] = (a, b)
            energies.append(float(np.square(s, dtype=np.float64).sum()) / total if total > 0 else 1.0)
        return pairs, float(np.mean(energies))

    def energy_by_rank(self) -> dict[str, float]:
        """Mean share of the last pre-projection delta that ranks 1, 2, 4, ..., r keep."""
        ranks = sorted({2**k for k in range(self.rank.bit_length()) if 2**k <= self.rank} | {self.rank})
        spectra = list(self.last_spectrum.values())
        if not spectra:
            return {}
        return {str(k): round(float(np.mean([spec[:k].sum() for spec in spectra])), 4) for k in ranks}


def top_singular(delta: np.ndarray, rank: int, rng: np.random.Generator,
                  warm_vt: np.ndarray | None, oversample: int = 8):
    """Top-`rank` singular triplets of `delta` by randomized subspace iteration.

    Args:
        delta: (m, n) float32 matrix.
        rank: how many singular values to return.
        rng: source of the random test vectors.
        warm_vt: (r, n) right singular vectors from the last call, or None.
        oversample: extra test vectors; they make the top-r estimate accurate.

    Returns:
        (U (m, k), S (k,), Vt (k, n), ||delta||_F^2) with k = min(rank, m, n).
    """
    m, n = delta.shape
    k = min(rank, m, n)
    width = min(k + oversample, m, n)
    omega = rng.standard_normal((n, width)).astype(np.float32)
    if warm_vt is not None:
        omega[:, : warm_vt.shape[0]] = warm_vt.T
    q, _ = np.linalg.qr(delta @ omega)
    # One power iteration when warm, two when cold: enough for a spectrum that decays slowly.
    for _ in range(1 if warm_vt is not None else 2):
        z, _ = np.linalg.qr(delta.T @ q)
        q, _ = np.linalg.qr(delta @ z)
    ub, s, vt = np.linalg.svd(q.T @ delta, full_matrices=False)
    total = float(np.square(delta, dtype=np.float64).sum())
    return (q @ ub[:, :k]).astype(np.float32), s[:k].astype(np.float32), vt[:k].astype(np.float32), total


# ---- data ------------------------------------------------------------------------------------
