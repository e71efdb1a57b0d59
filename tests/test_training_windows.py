"""Training windows for the llama.cpp trainer: packing, answer-only labels, base-sampled labels."""

from __future__ import annotations

import numpy as np
import pytest

from ondevice.models import bundled_model_path
from ondevice.training.windows import BaseSampler, Packer, TokenizedExample, Window


def _example(memory_id, length, answer_from, start):
    return TokenizedExample(list(range(start, start + length)), answer_from, memory_id)


def test_windows_are_full_start_at_examples_and_mark_only_answers_as_real():
    examples = [_example(i % 3, 10, 6, 100 * i) for i in range(6)]
    packer = Packer(examples, n_ctx=24, seed=0)
    for _ in range(8):
        window = packer.window()
        assert window.tokens.shape == (25,) and window.real.shape == (24,)
        assert window.tokens[0] % 100 == 0  # an example's first token
        for j, real in enumerate(window.real):
            token = int(window.tokens[j + 1])
            assert real == (token % 100 >= 6), (j, token)  # label j is token j + 1


def test_two_examples_of_one_memory_do_not_share_a_window():
    # memory 0 has 4 examples, memory 1 has 4: a window holds 2 examples, so it can always mix.
    examples = [_example(i % 2, 8, 4, 100 * i) for i in range(8)]
    packer = Packer(examples, n_ctx=15, seed=1)
    for _ in range(12):
        window = packer.window()
        first, second = int(window.tokens[0]) // 100, int(window.tokens[8]) // 100
        assert first % 2 != second % 2, window.tokens


def test_an_empty_set_is_refused():
    with pytest.raises(ValueError):
        Packer([TokenizedExample([], 0)], n_ctx=8, seed=0)


@pytest.fixture(scope="module")
def sampler():
    made = BaseSampler(bundled_model_path(), n_ctx=64, threads=2, seed=0)
    yield made
    made.close()


def _tokens_and_probs(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of `text` and the base model's next-token probabilities after each of them."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(bundled_model_path()), n_ctx=64, logits_all=True, verbose=False, n_threads=2)
    try:
        tokens = llm.tokenize(text.encode(), add_bos=True, special=True)
        llm.eval(tokens)
        logits = np.asarray(llm.scores[: len(tokens)], dtype=np.float64)
    finally:
        llm.close()
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(tokens, dtype=np.int32), probs / probs.sum(axis=1, keepdims=True)


def test_sampled_labels_follow_the_base_model_and_real_labels_are_kept(sampler):
    tokens, probs = _tokens_and_probs("One, two, three, four, five, six, seven, eight, nine, ten")
    everything_real = sampler.labels(Window(tokens, np.ones(len(tokens) - 1, dtype=bool)))
    assert (everything_real == tokens[1:]).all()

    nothing_real = Window(tokens, np.zeros(len(tokens) - 1, dtype=bool))
    draws = np.stack([sampler.labels(nothing_real) for _ in range(40)])
    probs = probs[:-1]  # the distributions of labels 0 .. n-2
    sure = probs.max(axis=1) > 0.9
    unsure = probs.max(axis=1) < 0.5
    assert sure.any() and unsure.any()
    # Where the base model is sure, samples are its choice; where it is not, they vary.
    assert (draws[:, sure] == probs[sure].argmax(axis=1)).mean() > 0.85
    assert all(len(set(draws[:, j])) > 1 for j in np.flatnonzero(unsure))
    # Each sample is drawn from the model's distribution: on average it has the probability
    # sum(p^2) a true draw has, far above what uniform draws over the vocabulary would get.
    drawn_p = np.take_along_axis(probs, draws.T, axis=1).mean(axis=1)
    expected = (probs ** 2).sum(axis=1)
    assert np.abs(drawn_p - expected).mean() < 0.1
