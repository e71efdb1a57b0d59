"""The llama.cpp engine (llama-cpp-python): base GGUF plus an optional GGUF LoRA adapter."""

from __future__ import annotations

import json

import os
import threading
import time
from pathlib import Path
from typing import Iterator

from ondevice.adapter_check import check_adapter_file, check_finite_logits
from ondevice.chat_tokens import tokenize_chat
from ondevice.engine import (
    AdapterLoadError,
    Engine,
    EngineError,
    GenerationOptions,
    Usage,
)
from ondevice.models import ModelFile, ModelFileError

DEFAULT_CONTEXT = 2048


def default_threads() -> int:
    """Physical-ish core count: llama.cpp decodes slower with hyper-threads oversubscribed."""
    return max(1, min(8, os.cpu_count() or 1))


def import_runtime() -> None:
    """Import llama-cpp-python and its chat formatter (jinja2) now, if not done yet.

    The first import loads llama.cpp's shared libraries while holding Python's GIL, for up to
    a second at a time: a desktop app does it before its window is on screen, not on the
    model's thread while the window has to answer.
    """
    import llama_cpp  # noqa: F401
    from llama_cpp import llama_chat_format  # noqa: F401


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
        self._template_stops: list[str] = []  # where a chosen template's turns end
        self._bos_text = ""
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

            try:  # before the slow load: a base model without a template says so at once
                template, self._template_stops = self.model.chat_template()
            except ModelFileError as exc:
                raise EngineError(str(exc)) from exc
            kwargs = dict(
                model_path=str(self.model.path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                verbose=False,
            )
            if self.adapter_path is not None:
                check_adapter_file(self.adapter_path, self.model.path)
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
            try:
                if self.adapter_path is not None:
                    check_finite_logits(llama, self.adapter_path.name)
                self._formatter = _chat_formatter(llama, template)
                self._bos_text = llama._model.token_get_text(llama.token_bos()) if llama.token_bos() >= 0 else ""
            except Exception:
                llama.close()
                raise
            self._llama = llama

    @property
    def context_size(self) -> int:
        return self.n_ctx

    # -- prompts ------------------------------------------------------------------------------

    def render(self, messages: list[dict]) -> str:
        """`messages` in the model's own chat template, ending where the assistant answers."""
        self.load()
        return self._formatter(messages=messages).prompt

    def tokenize_prompt(self, messages: list[dict]) -> list[int]:
        """The prompt's tokens; message contents never become control tokens (see chat_tokens)."""
        self.load()
        llama = self._llama
        # Templates that write the BOS text themselves (Gemma, Llama 3) must not get a second BOS.
        writes_bos = bool(self._bos_text) and self.render(messages).startswith(self._bos_text)
        bos = [llama.token_bos()] if _adds_bos(llama) and llama.token_bos() >= 0 and not writes_bos else []
        return tokenize_chat(
            self.render,
            lambda text, special: llama.tokenize(text.encode("utf-8"), add_bos=False, special=special),
            messages, bos,
        )

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
        own = list(self._formatter.stop) if getattr(self._formatter, "stop", None) else []
        return own + self._template_stops

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


def _chat_formatter(llama, template: str):
    """The chat template (the model's own or the one chosen), as llama-cpp-python renders it."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos = llama._model.token_get_text(llama.token_eos()) if llama.token_eos() >= 0 else ""
    bos = llama._model.token_get_text(llama.token_bos()) if llama.token_bos() >= 0 else ""
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)


def _adds_bos(llama) -> bool:
    return bool(llama._model.add_bos_token())
