"""The loss we want from ggml-opt, which only knows cross-entropy against one-hot labels.

ggml-opt's loss is the mean over positions of the cross-entropy against each position's label
row, and its gradient for a row with logits z is (softmax(z) - label) / n. llama.cpp fills the
rows one-hot and has no loss mask. So just before the loss runs, a scheduler eval callback
rewrites each row to p + w * (target - p), where p is the model's own current distribution:
the row's gradient becomes w * (p - target) / n. That gives, as in the MLX trainer:
- taught positions (answers): target one-hot, w = n / n_taught (mean cross-entropy);
- anchored positions (everything else): target the base model's distribution, w = λ n / n_anchored
  (λ times the mean KL(base || model), exact, not sampled);
- nothing else gets a gradient (w = 0).
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass

import numpy as np

from . import ggml_opt
from .row_threads import by_rows

LOGITS_NODE = b"result_output"  # llama.cpp's name for the output logits
LOSS_NODE = b"loss_cross_entropy"  # ggml-opt's name for its loss


@dataclass
class LossPlan:
    """What one window teaches: per row (position) of the logits.

    Attributes:
        teach: bool (n,), rows whose real next token is taught.
        targets: int (n,), the real next tokens (used where `teach`).
        anchor: bool (n,), rows pulled towards the base model.
        base_logprobs: float32 (anchor.sum(), n_vocab), the base model's log-probabilities
            on the anchored rows, in order.
        anchor_weight: the anchor's mean KL counts this much against the answers' mean loss.
    """

    teach: np.ndarray
    targets: np.ndarray
    anchor: np.ndarray
    base_logprobs: np.ndarray | None = None
    anchor_weight: float = 1.0


class LabelHook:
    """Rewrites ggml-opt's labels from the logits, following the plan set for the next step.

    Install `callback` as the context's `cb_eval`. After each step `last` holds the taught
    rows' mean cross-entropy and the anchored rows' mean KL, measured on the same logits.

    Args:
        before_loss: called when the forward pass is done and the loss and backward pass are
            next (the trainer zeroes ggml-opt's gradient accumulators there).
    """

    def __init__(self, before_loss=None) -> None:
        import llama_cpp

        self.before_loss = before_loss
        self.plan: LossPlan | None = None
        self.last: dict[str, float] | None = None
        self.error: BaseException | None = None
        self.seconds = 0.0  # spent rewriting labels, all steps together (for the step's time split)
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_node)

    def arm(self, plan: LossPlan) -> None:
        self.plan, self.last, self.error = plan, None, None

    def take(self) -> dict[str, float]:
        """The measured losses of the step just run; raises if the rewrite failed or never ran."""
        plan, last, error = self.plan, self.last, self.error
        self.plan = self.last = self.error = None
        if error is not None:
            raise RuntimeError(f"rewriting the training labels failed: {error}") from error
        if plan is not None and last is None:
            raise RuntimeError("llama.cpp ran a training step without reaching its loss")
        return last or {}

    def _on_node(self, tensor, ask: bool, _userdata) -> bool:
        # Any exception here would be swallowed by ctypes, so it is kept and raised by take().
        if not ask:
            return True  # False would stop the rest of the graph (the backward pass)
        try:
            node = ggml_opt.tensor_struct(tensor)
            if node.name == LOGITS_NODE:
                return True  # compute up to the logits now, so the loss sees finished logits
            if node.name == LOSS_NODE and self.plan is not None:
                if self.before_loss is not None:
                    self.before_loss()
                started = time.monotonic()
                self.last = rewrite_labels(node.src[0].contents, node.src[1].contents, self.plan)
                self.seconds += time.monotonic() - started
        except BaseException as exc:  # noqa: BLE001 - reported by take()
            self.error = exc
        return False


def rewrite_labels(logits_tensor, labels_tensor, plan: LossPlan) -> dict[str, float]:
    """Write the label rows for `plan` (see the module docstring); return the measured losses."""
    n_vocab, n_rows = int(logits_tensor.ne[0]), int(logits_tensor.ne[1])
    if plan.teach.shape != (n_rows,):
        raise ValueError(f"the plan has {plan.teach.shape[0]} rows, the logits {n_rows}")
    anchored = int(plan.anchor.sum())
    if anchored and (plan.base_logprobs is None or plan.base_logprobs.shape != (anchored, n_vocab)):
        raise ValueError("anchored rows need the base model's log-probabilities")
    logits = _float_view(logits_tensor, n_rows, n_vocab)
    labels = _float_view(labels_tensor, n_rows, n_vocab)
    taught = int(plan.teach.sum())
    weights = (n_rows / max(taught, 1), plan.anchor_weight * n_rows / max(anchored, 1))
    base_row = np.cumsum(plan.anchor) - 1  # row -> its row in plan.base_logprobs
    # ggml's compute threads wait for this callback, so their cores take a share of the rows.
    parts = by_rows(n_rows, lambda start, end: _rewrite_rows(logits, labels, plan, weights, base_row, start, end))
    ce, kl = (sum(part[i] for part in parts) for i in (0, 1))
    return {"ce": ce / taught if taught else 0.0, "kl": kl / anchored if anchored else 0.0,
            "taught": taught, "anchored": anchored}


def _rewrite_rows(logits, labels, plan: LossPlan, weights, base_row, start: int, end: int) -> tuple[float, float]:
    """Rows [start, end): labels = p, then the taught and anchored rows; returns the sums of
    their cross-entropy and KL. log p = logits - norm, with norm = max + log(sum(exp(logits - max)))."""
    z, out = logits[start:end], labels[start:end]
    peak = z.max(axis=1, keepdims=True)
    np.subtract(z, peak, out=out)
    np.exp(out, out=out)
    total = out.sum(axis=1, keepdims=True)
    out /= total  # every row starts as p: no gradient
    norm = (peak + np.log(total))[:, 0]
    ce = kl = 0.0

    rows = start + np.flatnonzero(plan.teach[start:end])
    if rows.size:
        tokens = plan.targets[rows]
        labels[rows] *= 1.0 - weights[0]
        labels[rows, tokens] += weights[0]
        ce = float((norm[rows - start] - logits[rows, tokens]).sum())

    rows = start + np.flatnonzero(plan.anchor[start:end])
    if rows.size:
        base_logprobs = plan.base_logprobs[base_row[rows[0]]: base_row[rows[-1]] + 1]  # in order: a view
        base = np.exp(base_logprobs)
        # KL(base || p) per row = sum base * (log base - logits) + norm, since sum base = 1.
        kl = float((np.einsum("ij,ij->i", base, base_logprobs) - np.einsum("ij,ij->i", base, logits[rows])
                    + norm[rows - start]).sum())
        mixed = labels[rows]
        mixed *= 1.0 - weights[1]
        base *= weights[1]
        mixed += base
        labels[rows] = mixed
    return ce, kl


def _float_view(tensor, n_rows: int, n_cols: int) -> np.ndarray:
    if tensor.type != ggml_opt.GGML_TYPE_F32 or tensor.nb[1] != n_cols * 4 or not tensor.data:
        raise ValueError(f"{tensor.name!r} is not a contiguous F32 matrix in host memory")
    raw = (ctypes.c_float * (n_rows * n_cols)).from_address(tensor.data)
    return np.ctypeslib.as_array(raw).reshape(n_rows, n_cols)
