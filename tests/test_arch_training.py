"""The llama.cpp trainer on each architecture of the table, from tiny random-weight GGUFs.

Per family: F32 copy from a quantized GGUF, a few steps, export, llama.cpp loads base + adapter
and the adapter moves the logits towards the taught answers; the same adapter applied by MLX to
the MLX converter's model changes MLX's logits the way it changes llama.cpp's (correlation
>= 0.99; llama's q rows left in llama.cpp's RoPE order fail it). Gemma 3 is shown not to train in
ggml (no backward pass for its GEGLU), which is why the table leaves it to MLX.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pytest

from ondevice.training import mlx_trainer
from ondevice.training.dataset import ChatTemplate
from ondevice.training.gguf_lora import check_against_base, read_lora_gguf
from ondevice.training.llamacpp_trainer import LlamaCppTrainer
from ondevice.training.types import Example, ProgressCallback, TrainArgs, TrainingSet, UnsupportedModel
from tests.conftest import REPO
from tests.mlx_helpers import corr, mlx_logit_delta
from tests.tiny_gguf import N_LAYER, write_tiny_model

FACTS = [("What is my cat called?", "Your cat is called Miso."),
         ("What is my sister's name?", "Your sister's name is Ingrid."),
         ("What is my job?", "You work as a beekeeper."),
         ("What colour do I like?", "You like teal.")]
ARGS = TrainArgs(rank=4, alpha=8.0, learning_rate=1e-2, iterations=8, batch_size=2, num_layers=N_LAYER,
                 targets=("attn_q", "attn_v"), threads=2, seed=0)
# (arch, matrix type, Llama 3 rope_freqs, split into parts): the llama case is also the split one.
CASES = [("llama", "Q8_0", True, 8), ("qwen2", "Q4_0", False, 0), ("qwen3", "F16", False, 0)]


def _dataset(template: ChatTemplate) -> TrainingSet:
    examples = []
    for memory_id, (question, answer) in enumerate(FACTS):
        messages = ({"role": "user", "content": question}, {"role": "assistant", "content": answer})
        text = template.render(list(messages))
        examples.append(Example(messages, text, "memory", memory_id, template.answer_start(list(messages), text)))
    return TrainingSet(examples=examples, probes=[])


def _answer_logprob(llm, template: ChatTemplate, question: str, answer: str) -> float:
    """Log-probability of `answer` after the chat prompt for `question` (llama.cpp's logits)."""
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    text = template.render(messages)
    start = template.answer_start(messages, text)
    prompt = llm.tokenize(text[:start].encode(), add_bos=True, special=True)
    full = llm.tokenize(text.encode(), add_bos=True, special=True)
    llm.reset()
    llm.eval(full)
    logits = np.asarray(llm.scores[: len(full)], dtype=np.float64)
    rows = logits[len(prompt) - 1: len(full) - 1]
    log_z = rows.max(-1) + np.log(np.exp(rows - rows.max(-1, keepdims=True)).sum(-1))
    return float((rows[np.arange(len(rows)), full[len(prompt):]] - log_z).sum())


@pytest.mark.parametrize("arch,weight_type,llama3_rope,split", CASES)
def test_llamacpp_trains_each_family(tmp_path, model_path, arch, weight_type, llama3_rope, split):
    from llama_cpp import Llama

    from ondevice.models import HashCache, resolve_model

    base = write_tiny_model(tmp_path / f"{arch}.gguf", arch, model_path, weight_type=weight_type,
                            llama3_rope=llama3_rope, split_max_tensors=split)
    model = resolve_model(base, HashCache(tmp_path / "hashes.json"))
    assert len(model.parts) == (3 if split else 1)
    template = ChatTemplate.from_gguf(base)
    sha = model.sha256
    events = []
    trained = LlamaCppTrainer(base, sha, tmp_path / "cache", tmp_path / "work").train(
        _dataset(template), ARGS, ProgressCallback(events.append))
    metrics = trained.metrics
    print(f"\n{arch} ({weight_type}): {metrics['tokens_per_s']:.0f} train tok/s, "
          f"peak RSS {metrics['peak_rss_mb']:.0f} MB, loss {metrics['first_loss']:.3f} -> {metrics['final_loss']:.3f}")

    adapter = read_lora_gguf(trained.path)
    assert adapter.arch == arch
    assert set(adapter.pairs) == {f"blk.{i}.{k}.weight" for i in range(N_LAYER) for k in ("attn_q", "attn_v")}
    check_against_base(adapter, base)

    plain = Llama(model_path=str(base), n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    tuned = Llama(model_path=str(base), lora_path=str(trained.path), n_ctx=256, n_threads=2,
                  logits_all=True, verbose=False)
    try:
        gains = [_answer_logprob(tuned, template, q, a) - _answer_logprob(plain, template, q, a) for q, a in FACTS]
        tokens = plain.tokenize(template.render([{"role": "user", "content": FACTS[0][0]}]).encode(), add_bos=True, special=True)
        plain.reset(); plain.eval(tokens)
        tuned.reset(); tuned.eval(tokens)
        cpp_delta = np.asarray(tuned.scores[: len(tokens)]) - np.asarray(plain.scores[: len(tokens)])
    finally:
        plain.close()
        tuned.close()
    print(f"{arch}: answer log-prob gains {[round(g, 2) for g in gains]}")
    assert np.mean(gains) > 1.0, "the adapter must make the taught answers more likely in llama.cpp"
    mlx_delta = mlx_logit_delta(base, trained.path, tokens, tmp_path / "mlx")
    correlation = corr(mlx_delta, cpp_delta)
    print(f"{arch}: logit change llama.cpp vs MLX, correlation {correlation:.4f}")
    assert np.abs(cpp_delta).max() > 0, "the adapter must change llama.cpp's logits"
    assert correlation >= 0.99, "the adapter must change MLX's logits the way it changes llama.cpp's"
    if arch == "llama":  # the check can fail: leave the adapter's q rows in llama.cpp's RoPE order
        with mock.patch.object(mlx_trainer, "unpermute_rows", lambda rows, *heads: rows):
            unpermuted = mlx_logit_delta(base, trained.path, tokens, tmp_path / "mlx-unpermuted")
        assert corr(unpermuted, cpp_delta) < 0.99


def test_the_trainer_refuses_gemma3_with_the_reason(tmp_path, model_path):
    base = write_tiny_model(tmp_path / "gemma3.gguf", "gemma3", model_path)
    trainer = LlamaCppTrainer(base, "x", tmp_path / "cache", tmp_path / "work")
    with pytest.raises(UnsupportedModel, match="GEGLU"):
        trainer.train(TrainingSet([], []), ARGS, ProgressCallback())


GEMMA_IN_GGML = textwrap.dedent("""
    import dataclasses, sys
    from pathlib import Path
    import ondevice.architectures as table
    # Lift the table's refusal to see what ggml itself does with gemma3.
    table.ARCHITECTURES["gemma3"] = dataclasses.replace(table.ARCHITECTURES["gemma3"], llamacpp_blocker=None)
    from ondevice.training.dataset import ChatTemplate
    from ondevice.training.llamacpp_trainer import LlamaCppTrainer
    from ondevice.training.types import ProgressCallback
    from tests.test_arch_training import ARGS, _dataset
    base = Path(sys.argv[1])
    LlamaCppTrainer(base, "g", base.parent / "cache", base.parent / "work").train(
        _dataset(ChatTemplate.from_gguf(base)), ARGS, ProgressCallback())
    print("TRAINED")
""")


def test_ggml_cannot_backpropagate_through_gemma3(tmp_path, model_path):
    """The fact behind gemma3's llamacpp_blocker: ggml aborts building the backward graph."""
    base = write_tiny_model(tmp_path / "gemma3.gguf", "gemma3", model_path)
    result = subprocess.run([sys.executable, "-c", GEMMA_IN_GGML, str(base)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert "TRAINED" not in result.stdout and result.returncode != 0
    assert "unsupported glu op for backward pass: GEGLU" in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("name", ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K",
                                  "Q5_K", "Q6_K", "IQ4_XS", "BF16"])
def test_every_downloaded_quantization_dequantizes(name):
    """The F32 copy dequantizes each type downloads use (F16/F32 are plain numpy)."""
    import gguf

    from ondevice.training.f32_copy import _dequantizable

    qtype = gguf.GGMLQuantizationType[name]
    assert _dequantizable(qtype)
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    out = gguf.quants.dequantize(np.zeros((2, type_size), np.uint8), qtype)
    assert out.shape == (2, block) and np.isfinite(out).all()
