"""Decode speed and time to first token: Nocturne's engine vs raw llama-cpp-python.

Both run the same GGUF, the same rendered prompt and greedy sampling, alternating runs in one
process so machine noise hits both alike. Prints medians and the ratio (goal: >= 0.95).

    .venv/bin/python bench/inference.py [--model PATH] [--adapter PATH] [--runs N] [--tokens N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ondevice.engine import GenerationOptions, Usage  # noqa: E402
from ondevice.llama_engine import LlamaEngine  # noqa: E402
from ondevice.models import HashCache, resolve_model  # noqa: E402

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a short paragraph about the history of Paris."},
]


def raw_run(llama, tokens: list[int], max_tokens: int) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    count = 0
    for chunk in llama.create_completion(prompt=tokens, max_tokens=max_tokens, temperature=0.0,
                                         stream=True):
        if chunk["choices"][0]["text"]:
            count += 1
            if first is None:
                first = time.perf_counter()
    ended = time.perf_counter()
    return (first - started) * 1000, (count - 1) / (ended - first)


def engine_run(engine: LlamaEngine, max_tokens: int) -> tuple[float, float]:
    options = GenerationOptions(max_tokens=max_tokens, temperature=0.0, top_k=40, top_p=0.95,
                                min_p=0.05, repeat_penalty=1.0)
    usage = [item for item in engine.stream(MESSAGES, options) if isinstance(item, Usage)][0]
    return usage.ttft_ms, usage.tokens_per_s


def measure(label: str, adapter: Path | None, model, runs: int, max_tokens: int) -> None:
    from llama_cpp import Llama

    engine = LlamaEngine(model, adapter_path=adapter, adapter_version="bench" if adapter else None)
    engine.load()
    kwargs = dict(model_path=str(model.path), n_ctx=engine.n_ctx, n_threads=engine.n_threads,
                  n_threads_batch=engine.n_threads, verbose=False)
    if adapter:
        kwargs["lora_path"] = str(adapter)
    raw = Llama(**kwargs)
    tokens = engine.tokenize_prompt(MESSAGES)
    raw_run(raw, tokens, 8)  # warm up both
    engine_run(engine, 8)
    raw_ttft, raw_tps, eng_ttft, eng_tps = [], [], [], []
    for _ in range(runs):
        t, s = raw_run(raw, tokens, max_tokens)
        raw_ttft.append(t)
        raw_tps.append(s)
        t, s = engine_run(engine, max_tokens)
        eng_ttft.append(t)
        eng_tps.append(s)
    med = statistics.median
    print(f"\n{label}: {model.name}" + (f" + adapter {adapter.name}" if adapter else ""))
    print(f"{'':24}{'decode tok/s':>14}{'first token ms':>16}")
    print(f"{'raw llama-cpp-python':24}{med(raw_tps):14.1f}{med(raw_ttft):16.1f}")
    print(f"{'nocturne engine':24}{med(eng_tps):14.1f}{med(eng_ttft):16.1f}")
    print(f"{'ratio (nocturne/raw)':24}{med(eng_tps) / med(raw_tps):14.3f}"
          f"{med(raw_ttft) / med(eng_ttft):16.3f}   (>= 1.0 is as fast; goal >= 0.95)")
    raw.close()
    engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF (default: the bundled model)")
    parser.add_argument("--adapter", type=Path, help="also measure with this GGUF LoRA adapter")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    model = resolve_model(args.model, HashCache(Path("/tmp/nocturne-bench-hashes.json")))
    measure("base model", None, model, args.runs, args.tokens)
    if args.adapter:
        measure("with LoRA adapter", args.adapter, model, args.runs, args.tokens)


if __name__ == "__main__":
    main()
