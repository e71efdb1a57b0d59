"""LoRA factors trained on the weight gradients llama.cpp computes.

llama.cpp trains whole tensors, not adapters. So the optimizer it runs is plain SGD with a known
step size: after a step, `(W_written - W_now) / step_size` is exactly the gradient of the loss
for W. From it the factors get their own gradients (dL/dB = s G Aᵀ, dL/dA = s Bᵀ G for
ΔW = s B A), an Adam step, and `W_base + s B A` is written back before the next step. This is the
LoRA the MLX trainer trains (same initialisation, scale and optimizer), so the delta is rank r
all along and nothing is lost when the adapter is written.
"""

from __future__ import annotations

import numpy as np

# The gradient is read back as (W_written - W_now) / SGD_STEP. A large power of two keeps its
# float32 rounding error far below the gradient itself (about 1e-7 of it) and divides exactly.
SGD_STEP = 1024.0


class LoraFactors:
    """A (r, n_in) and B (n_out, r) for each trainable weight, with AdamW state.

    Args:
        params: name -> object with `.weight` (a live float32 view on llama.cpp's tensor) and
            `.base` (its value before training).
        rank: r.
        scale: s in ΔW = s B A (alpha / r).
        learning_rate: AdamW step size.
        seed: initialisation of A.
        start: {name: (A, B)} to continue from instead (ondevice.training.warm_start).
        betas, eps: AdamW constants; mlx's defaults, without bias correction, as the MLX trainer.
    """

    def __init__(self, params: dict, rank: int, scale: float, learning_rate: float, seed: int = 0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 start: dict[str, tuple[np.ndarray, np.ndarray]] | None = None):
        self.params = params
        self.rank = rank
        self.scale = scale
        self.learning_rate = learning_rate
        self.betas = betas
        self.eps = eps
        rng = np.random.default_rng(seed)
        self.a: dict[str, np.ndarray] = {}
        self.b: dict[str, np.ndarray] = {}
        self._moments: dict[str, list[np.ndarray]] = {}
        for name, param in params.items():
            n_out, n_in = param.base.shape
            bound = 1.0 / np.sqrt(n_in)  # mlx-lm's LoRALinear initialisation
            self.a[name] = rng.uniform(-bound, bound, (rank, n_in)).astype(np.float32)
            self.b[name] = np.zeros((n_out, rank), np.float32)
            if start is not None:
                self.a[name], self.b[name] = (np.array(m, dtype=np.float32) for m in start[name])
            self._moments[name] = [np.zeros((rank, n_in), np.float32), np.zeros((rank, n_in), np.float32),
                                   np.zeros((n_out, rank), np.float32), np.zeros((n_out, rank), np.float32)]
        self.write()

    def write(self) -> None:
        """Set every weight to W_base + s B A (B is zero at a fresh start: the base model)."""
        for name, param in self.params.items():
            param.weight[:] = param.base + self.scale * (self.b[name] @ self.a[name])
        self._written = {name: param.weight.copy() for name, param in self.params.items()}

    def step(self, sgd_step: float = SGD_STEP) -> float:
        """Read the gradients llama.cpp's SGD step left in the weights, update A and B, write back.

        Returns:
            The gradient's global norm (for logging; a NaN here means the step blew up).
        """
        squared = 0.0
        for name, param in self.params.items():
            grad = (self._written[name] - param.weight) / np.float32(sgd_step)
            squared += float(np.square(grad, dtype=np.float64).sum())
            a, b = self.a[name], self.b[name]
            grad_a = self.scale * (b.T @ grad)
            grad_b = self.scale * (grad @ a.T)
            m_a, v_a, m_b, v_b = self._moments[name]
            self._adam(a, grad_a, m_a, v_a)
            self._adam(b, grad_b, m_b, v_b)
        self.write()
        return float(np.sqrt(squared))

    def _adam(self, value: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray) -> None:
        beta1, beta2 = self.betas
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * np.square(grad)
        value -= self.learning_rate * m / (np.sqrt(v) + self.eps)

    def pairs(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{name: (A, B)} for a GGUF LoRA whose alpha is `scale * rank`."""
        return {name: (self.a[name].copy(), self.b[name].copy()) for name in self.params}

    def energy_by_rank(self) -> dict[str, float]:
        """Mean share of each delta's energy in its top 1, 2, 4, ..., r singular directions.

        Shows how much of the rank the learned deltas use (the SVD of B A comes from the
        r x r product of the factors' triangular parts, so this is cheap).
        """
        ranks = sorted({2**k for k in range(self.rank.bit_length()) if 2**k <= self.rank} | {self.rank})
        shares = {k: [] for k in ranks}
        for name in self.params:
            _, r_b = np.linalg.qr(self.b[name].astype(np.float64))
            _, r_a = np.linalg.qr(self.a[name].T.astype(np.float64))
            energy = np.square(np.linalg.svd(r_b @ r_a.T, compute_uv=False))
            total = energy.sum()
            for k in ranks:
                shares[k].append(energy[:k].sum() / total if total > 0 else 1.0)
        return {str(k): round(float(np.mean(v)), 4) for k, v in shares.items()}
