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
from dataclasses import dataclass

import numpy as np

from ondevice.evaluation import log_softmax

from . import ggml_opt

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
                self.last = rewrite_labels(node.src[0].contents, node.src[1].contents, self.plan)
        except BaseException as exc:  # noqa: BLE001 - reported by take()
            self.error = exc
        return False


def rewrite_labels(logits_tensor, labels_tensor, plan: LossPlan) -> dict[str, float]:
    """Write the label rows for `plan` (see the module docstring); return the measured losses."""
    n_vocab, n_rows = int(logits_tensor.ne[0]), int(logits_tensor.ne[1])
    if plan.teach.shape != (n_rows,):
        raise ValueError(f"the plan has {plan.teach.shape[0]} rows, the logits {n_rows}")
    logits = _float_view(logits_tensor, n_rows, n_vocab)
    labels = _float_view(labels_tensor, n_rows, n_vocab)

    logprobs = log_softmax(logits)
    np.exp(logprobs, out=labels)  # every row starts as p: no gradient
    measured = {"ce": 0.0, "kl": 0.0, "taught": int(plan.teach.sum()), "anchored": int(plan.anchor.sum())}

    rows = np.flatnonzero(plan.teach)
    if rows.size:
        weight = n_rows / rows.size
        tokens = plan.targets[rows]
        labels[rows] *= 1.0 - weight
        labels[rows, tokens] += weight
        measured["ce"] = float(-logprobs[rows, tokens].mean())

    rows = np.flatnonzero(plan.anchor)
    if rows.size:
        base_logprobs = plan.base_logprobs
        if base_logprobs is None or base_logprobs.shape != (rows.size, n_vocab):
            raise ValueError("anchored rows need the base model's log-probabilities")
        weight = plan.anchor_weight * n_rows / rows.size
        base = np.exp(base_logprobs)
        labels[rows] += weight * (base - labels[rows])
        measured["kl"] = float((base * (base_logprobs - logprobs[rows])).sum(axis=1).mean())
    return measured


def _float_view(tensor, n_rows: int, n_cols: int) -> np.ndarray:
    if tensor.type != ggml_opt.GGML_TYPE_F32 or tensor.nb[1] != n_cols * 4 or not tensor.data:
        raise ValueError(f"{tensor.name!r} is not a contiguous F32 matrix in host memory")
    raw = (ctypes.c_float * (n_rows * n_cols)).from_address(tensor.data)
    return np.ctypeslib.as_array(raw).reshape(n_rows, n_cols)
