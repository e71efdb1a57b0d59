"""The llama.cpp engine (llama-cpp-python): base GGUF plus an optional GGUF LoRA adapter."""

from __future__ import annotations

import json

import os
import threading
import time
from pathlib import Path
from typing import Iterator

from ondevice.engine import (
    AdapterLoadError,
    Engine,
    EngineError,
    GenerationOptions,
    Usage,
)
from ondevice.models import ModelFile

DEFAULT_CONTEXT = 2048


def default_threads() -> int:
    """Physical-ish core count: llama.cpp decodes slower with hyper-threads oversubscribed."""
    return max(1, min(8, os.cpu_count() or 1))


class LlamaEngine(Engine):
    """Runs a GGUF model through llama.cpp, loaded lazily on first use.

    Args:
        model: the resolved base model file.
        adapter_path: a GGUF LoRA adapter to apply, or None for the base model.
        adapter_version: the adapter's version label, logged with every answer.
        adapter_scale: LoRA scale (1.0 applies the adapter as trained).
        n_ctx: context window in tokens.
        n_threads: CPU threads (None: a default from the core count).
    """

    def __init__(
        self,
        model: ModelFile,
        adapter_path: Path | None = None,
        adapter_version: str | None = None,
        adapter_scale: float = 1.0,
        n_ctx: int = DEFAULT_CONTEXT,
        n_threads: int | None = None,
    ):
        self.model = model
        self.model_name = model.name
        self.adapter_path = Path(adapter_path) if adapter_path else None
        self.adapter_version = adapter_version if adapter_path else None
        self.adapter_scale = adapter_scale
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self._llama = None
        self._formatter = None
        self._lock = threading.RLock()  # one generation (or load) at a time

    # -- loading ------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def load(self) -> None:
        with self._lock:
            if self._llama is not None:
                return
            from llama_cpp import Llama

            kwargs = dict(
                model_path=str(self.model.path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                verbose=False,
            )
            if self.adapter_path is not None:
                self._check_adapter()
                kwargs.update(lora_path=str(self.adapter_path), lora_scale=self.adapter_scale)
            try:
                llama = Llama(**kwargs)
            except (ValueError, RuntimeError, OSError) as exc:
                if self.adapter_path is not None and "lora" in str(exc).lower():
                    raise AdapterLoadError(
                        f"The adapter {self.adapter_path.name} could not be loaded ({exc})."
                    ) from exc
                raise EngineError(
                    f"llama.cpp could not load {self.model.path} ({exc}): choose another GGUF "
                    "model file."
                ) from exc
            self._formatter = _chat_formatter(llama)
            self._llama = llama

    def _check_adapter(self) -> None:
        """Validate the adapter in Python first: llama.cpp aborts the process on some bad files."""
        from ondevice.training.gguf_lora import AdapterError, check_against_base, read_lora_gguf

        if not self.adapter_path.is_file():
            raise AdapterLoadError(f"The adapter file {self.adapter_path} is missing.")
        try:
            check_against_base(read_lora_gguf(self.adapter_path), self.model.path)
        except AdapterError as exc:
            raise AdapterLoadError(str(exc)) from exc

    @property
    def context_size(self) -> int:
        return self.n_ctx

    # -- prompts ------------------------------------------------------------------------------

    def render(self, messages: list[dict]) -> str:
        """`messages` in the model's own chat template, ending where the assistant answers."""
        self.load()
        return self._formatter(messages=messages).prompt

    def tokenize_prompt(self, messages: list[dict]) -> list[int]:
        self.load()
        prompt = self.render(messages)
        return self._llama.tokenize(prompt.encode("utf-8"), add_bos=_adds_bos(self._llama), special=True)

    def count_tokens(self, messages: list[dict]) -> int:
        return len(self.tokenize_prompt(messages))

    # -- generation ---------------------------------------------------------------------------

    def stream(
        self,
        messages: list[dict],
        options: GenerationOptions | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[str | Usage]:
        options = options or GenerationOptions()
        with self._lock:
            self.load()
            tokens = self.tokenize_prompt(messages)
            budget = self.n_ctx - len(tokens)
            if budget <= 0:
                raise EngineError(
                    f"The prompt has {len(tokens)} tokens, more than the {self.n_ctx}-token "
                    "context: shorten the message or raise the context size in Settings."
                )
            stop = list(options.stop) + self._formatter_stop()
            started = time.perf_counter()
            first_at = None
            count = 0
            finish = "stop"
            chunks = self._llama.create_completion(
                prompt=tokens,
                max_tokens=min(options.max_tokens, budget),
                temperature=options.temperature,
                top_p=options.top_p,
                top_k=options.top_k,
                min_p=options.min_p,
                repeat_penalty=options.repeat_penalty,
                seed=options.seed,
                stop=stop,
                stream=True,
                grammar=_grammar(options.json_schema),
            )
            try:
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        finish = "cancelled"
                        break
                    choice = chunk["choices"][0]
                    text = choice.get("text", "")
                    if text:
                        count += 1
                        if first_at is None:
                            first_at = time.perf_counter()
                        yield text
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            finally:
                chunks.close()
            ended = time.perf_counter()
            yield Usage(
                prompt_tokens=len(tokens),
                completion_tokens=count,
                ttft_ms=((first_at or ended) - started) * 1000.0,
                duration_ms=(ended - started) * 1000.0,
                finish_reason=finish,
            )

    def _formatter_stop(self) -> list[str]:
        return list(self._formatter.stop) if getattr(self._formatter, "stop", None) else []

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None


def _grammar(schema: dict | None):
    """A llama.cpp grammar that only lets the model write JSON of `schema` (None: free text)."""
    if schema is None:
        return None
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


def _chat_formatter(llama):
    """The model's own chat template from its GGUF metadata, as llama-cpp-python renders it."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise EngineError(
            "This GGUF has no chat template (tokenizer.chat_template): choose an instruct/chat model."
        )
    eos = llama._model.token_get_text(llama.token_eos()) if llama.token_eos() >= 0 else ""
    bos = llama._model.token_get_text(llama.token_bos()) if llama.token_bos() >= 0 else ""
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)


def _adds_bos(llama) -> bool:
    return bool(llama._model.add_bos_token())
