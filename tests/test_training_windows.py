"""Training windows for the llama.cpp trainer: packing, taught positions, the base targets."""

from __future__ import annotations

import numpy as np
import pytest

from ondevice.models import bundled_model_path
from ondevice.training.windows import BaseLogprobs, Packer, TokenizedExample, Window


def _example(memory_id, length, answer_from, start):
    return TokenizedExample(list(range(start, start + length)), answer_from, memory_id)


def test_windows_are_full_start_at_examples_and_mark_only_answers_as_taught():
    examples = [_example(i % 3, 10, 6, 100 * i) for i in range(6)]
    packer = Packer(examples, n_ctx=24, seed=0)
    for _ in range(8):
        window = packer.window()
        assert window.tokens.shape == (25,) and window.taught.shape == (24,)
        assert window.tokens[0] % 100 == 0  # an example's first token
        for j, taught in enumerate(window.taught):
            token = int(window.tokens[j + 1])
            assert taught == (token % 100 >= 6), (j, token)  # label j is token j + 1


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


def test_base_logprobs_are_the_base_models_next_token_distribution():
    from llama_cpp import Llama

    path = bundled_model_path()
    text = "One, two, three, four, five, six, seven, eight, nine, ten"
    llm = Llama(model_path=str(path), n_ctx=64, logits_all=True, verbose=False, n_threads=2)
    try:
        tokens = np.asarray(llm.tokenize(text.encode(), add_bos=True, special=True), dtype=np.int32)
        llm.eval(tokens.tolist())
        logits = np.asarray(llm.scores[: len(tokens)], dtype=np.float64)
    finally:
        llm.close()
    expected = logits - logits.max(axis=1, keepdims=True)
    expected -= np.log(np.exp(expected).sum(axis=1, keepdims=True))

    wanted = np.zeros(len(tokens) - 1, dtype=bool)
    wanted[[0, 3, 7]] = True
    base = BaseLogprobs(path, n_ctx=64, threads=2)
    try:
        rows = base.rows(Window(tokens, np.zeros(len(tokens) - 1, dtype=bool)), wanted)
    finally:
        base.close()
    assert rows.shape == (3, logits.shape[1]) and rows.dtype == np.float32
    assert np.allclose(np.exp(rows).sum(axis=1), 1.0, atol=1e-4)
    assert np.allclose(rows, expected[:-1][wanted], atol=1e-3)  # row j: after tokens[: j + 1]
