"""Replay against forgetting: the base model's own answers to generic prompts shipped with Nocturne.

Answers come from the base model only, never through a personal adapter (that would replay the
adapter's drift back into the next one), and are cached per base-model sha256 in the data dir.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Callable

from ondevice import json_cache
from ondevice.engine import GenerationOptions, Usage
from ondevice.llama_engine import LlamaEngine
from ondevice.models import ModelFile

# Short answers keep the replay cheap to generate (once per base model) and to train on.
REPLAY_MAX_TOKENS = 80


def load_data(name: str) -> dict:
    """A JSON file shipped in ondevice/data/."""
    return json.loads((resources.files("ondevice") / "data" / name).read_text(encoding="utf-8"))


def replay_prompts() -> list[str]:
    return list(load_data("replay_prompts.json")["prompts"])


def base_answers(
    model: ModelFile,
    cache_dir: Path,
    system_prompt: str,
    limit: int | None = None,
    max_tokens: int = REPLAY_MAX_TOKENS,
    n_threads: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> list[tuple[str, str]]:
    """(prompt, base answer) pairs for the shipped prompts, generated once per base model.

    Args:
        model: the base model (its sha256 keys the cache).
        cache_dir: where `replay-<sha256>.json` is kept.
        system_prompt: the app's system prompt, so replay looks like real chats.
        limit: use only the first N prompts (tests and benchmarks).
        max_tokens: answer length cap.
        n_threads: CPU threads for generation.
        should_stop: checked between prompts; True stops early (nothing is cached then).
        on_step: called with (prompts done, total) as generation goes.

    Returns:
        The pairs, in the shipped order.
    """
    prompts = replay_prompts()[:limit]
    key = json_cache.cache_key(system_prompt, prompts, max_tokens)
    cache = Path(cache_dir) / f"replay-{model.sha256}.json"
    cached = json_cache.read(cache, key)
    if cached is not None:
        return [tuple(pair) for pair in cached]
    engine = LlamaEngine(model, n_threads=n_threads)  # no adapter_path: the base model only
    pairs: list[tuple[str, str]] = []
    try:
        options = GenerationOptions(max_tokens=max_tokens)
        for done, prompt in enumerate(prompts):
            if should_stop and should_stop():
                return pairs
            if on_step:
                on_step(done, len(prompts))
            messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]
            pieces = list(engine.stream(messages, options))
            text = "".join(p for p in pieces if not isinstance(p, Usage)).strip()
            if pieces and isinstance(pieces[-1], Usage) and pieces[-1].finish_reason == "length":
                text = _last_full_sentence(text)  # never teach answers that stop mid-sentence
            if text:
                pairs.append((prompt, text))
    finally:
        engine.close()
    json_cache.write(cache, key, pairs)
    return pairs


def _last_full_sentence(text: str) -> str:
    """`text` cut after its last sentence end, or empty when it has none."""
    cut = max(text.rfind(mark) for mark in (". ", "! ", "? ", ".\n", "!\n", "?\n"))
    if text.endswith((".", "!", "?")):
        return text
    return text[: cut + 1].strip() if cut > 0 else ""
