"""The labels that turn ggml-opt's one-hot cross-entropy into the loss we train with."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from ondevice.training import ggml_opt
from ondevice.evaluation import log_softmax
from ondevice.training.label_hook import LossPlan, rewrite_labels


def _tensor(array: np.ndarray) -> ggml_opt.ggml_tensor:
    """A ggml_tensor struct over a C-contiguous float32 (rows, cols) array, as ggml lays it out."""
    rows, cols = array.shape
    tensor = ggml_opt.ggml_tensor()
    tensor.type = ggml_opt.GGML_TYPE_F32
    tensor.ne[:] = [cols, rows, 1, 1]
    tensor.nb[:] = [4, 4 * cols, 4 * cols * rows, 4 * cols * rows]
    tensor.data = array.ctypes.data_as(ctypes.c_void_p).value
    return tensor


def _grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """What ggml's cross_entropy_loss_back computes for d(loss)/d(logits)."""
    probs = np.exp(log_softmax(logits))
    return (probs - labels) / logits.shape[0]


def test_rewritten_labels_give_the_gradient_of_answer_loss_plus_anchor():
    rng = np.random.default_rng(0)
    n, vocab = 6, 11
    logits = rng.normal(size=(n, vocab)).astype(np.float32) * 3
    labels = np.zeros((n, vocab), np.float32)
    targets = rng.integers(0, vocab, n)
    teach = np.array([0, 1, 1, 0, 0, 0], bool)
    anchor = np.array([1, 0, 0, 1, 0, 1], bool)  # row 4 is neither: masked
    base_logprobs = log_softmax(rng.normal(size=(3, vocab)))
    plan = LossPlan(teach, targets, anchor, base_logprobs, anchor_weight=2.0)

    measured = rewrite_labels(_tensor(logits), _tensor(labels), plan)

    logprobs = log_softmax(logits).astype(np.float64)
    probs = np.exp(logprobs)
    expected = np.zeros((n, vocab))
    for row in np.flatnonzero(teach):  # mean cross-entropy over the 2 taught rows
        expected[row] = probs[row] / 2
        expected[row, targets[row]] -= 1 / 2
    base = np.exp(base_logprobs.astype(np.float64))
    expected[anchor] = 2.0 * (probs[anchor] - base) / 3  # 2 x mean KL over the 3 anchored rows
    assert np.allclose(_grad(logits, labels), expected, atol=1e-6)
    assert np.allclose(labels.sum(axis=1), 1.0, atol=1e-5)  # still distributions, in sum
    assert measured["ce"] == pytest.approx(-logprobs[teach, targets[teach]].mean(), rel=1e-5)
    kl = (base * (base_logprobs - logprobs[anchor])).sum(axis=1).mean()
    assert measured["kl"] == pytest.approx(kl, rel=1e-5)
    assert (measured["taught"], measured["anchored"]) == (2, 3)


def test_a_plan_for_another_window_size_is_refused():
    logits = np.zeros((4, 5), np.float32)
    plan = LossPlan(np.ones(3, bool), np.zeros(3, int), np.zeros(3, bool))
    with pytest.raises(ValueError, match="rows"):
        rewrite_labels(_tensor(logits), _tensor(logits.copy()), plan)


def test_anchored_rows_without_base_logprobs_are_refused():
    logits = np.zeros((2, 5), np.float32)
    plan = LossPlan(np.zeros(2, bool), np.zeros(2, int), np.ones(2, bool))
    with pytest.raises(ValueError, match="base model"):
        rewrite_labels(_tensor(logits), _tensor(logits.copy()), plan)


@pytest.mark.parametrize("cores", [1, 3, 8])
def test_the_rows_split_between_threads_give_the_same_labels_and_losses(monkeypatch, cores):
    """row_threads splits a window's rows between threads; any split writes the same labels."""
    from ondevice.training import row_threads

    rng = np.random.default_rng(1)
    n, vocab = 7, 13
    logits = rng.normal(size=(n, vocab)).astype(np.float32) * 3
    teach = np.array([0, 1, 1, 0, 0, 0, 1], bool)
    anchor = np.array([1, 0, 0, 1, 0, 1, 0], bool)
    base = rng.normal(size=(3, vocab)).astype(np.float32)
    plan = LossPlan(teach, rng.integers(0, vocab, n), anchor, log_softmax(base), anchor_weight=2.0)
    results = {}
    for split in (1, cores):
        monkeypatch.setattr(row_threads.os, "cpu_count", lambda: split)
        labels = np.zeros((n, vocab), np.float32)
        measured = rewrite_labels(_tensor(logits), _tensor(labels), plan)
        results[split] = (labels, measured, row_threads.log_softmax_in_place(base.copy()))
    (one, one_measured, one_lsm), (many, many_measured, many_lsm) = results[1], results[cores]
    assert np.allclose(one, many, atol=1e-7) and one_measured == pytest.approx(many_measured)
    assert np.allclose(one_lsm, log_softmax(base), atol=1e-6) and np.allclose(many_lsm, one_lsm, atol=1e-7)
