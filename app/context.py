"""Wires one Nocturne instance together: data dir, store, settings, model, engine, services.

The CLI, the desktop app and the nightly job all start from `Nocturne(home)`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from app.chat import ChatService, ChatSettings
from app.conversations import ConversationLog
from app.errors import ModelError
from app.paths import data_dir, ensure_private_dir
from app.settings import Settings
from app.store import Store
from ondevice.engine import AdapterLoadError, Engine, EngineError
from ondevice.llama_engine import LlamaEngine, import_runtime
from ondevice.models import HashCache, ModelFile, ModelFileError, resolve_model


class Nocturne:
    """One user's Nocturne: everything hangs off the data folder `home`.

    Args:
        home: the data folder (default: NOCTURNE_HOME or the platform's data dir).
        model_path: a GGUF to use instead of the setting / bundled model.
        adapters: False runs the base model even when an adapter is active.
    """

    def __init__(self, home: Path | None = None, model_path: str | None = None, adapters: bool = True):
        self.home = ensure_private_dir(Path(home) if home else data_dir())
        self.store = Store(self.home)
        self.settings = Settings(self.store)
        self.log = ConversationLog(self.store)
        self.hashes = HashCache(self.home / "cache" / "model-hashes.json")
        self._model_path = model_path
        self._use_adapters = adapters
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self.notice: str | None = None  # why the app runs on less than it should (shown once)
        # A learning run killed mid-way (kill -9, power cut) is recorded as interrupted.
        from app.runs import TrainingRuns

        TrainingRuns(self.store).recover_interrupted()

    # -- model and engine ---------------------------------------------------------------------

    @staticmethod
    def import_engine_runtime() -> None:
        """Import the inference library now (it holds the GIL while it loads: see
        ondevice.llama_engine.import_runtime); the engine itself still loads later."""
        import_runtime()

    def model(self) -> ModelFile:
        path = self._model_path or self.settings.get("model_path")
        try:
            return resolve_model(path, self.hashes, self.settings.get("chat_template"))
        except ModelFileError as exc:
            raise ModelError(str(exc)) from exc

    def engine(self) -> Engine:
        """The engine for the current model and active adapter (not loaded yet)."""
        with self._engine_lock:
            if self._engine is None:
                model = self.model()
                adapter_path, version = self._active_adapter(model)
                self._engine = LlamaEngine(
                    model,
                    adapter_path=adapter_path,
                    adapter_version=version,
                    n_ctx=self.settings.get("context_size"),
                    n_threads=self.settings.get("threads"),
                )
            return self._engine

    def load_engine(self) -> Engine:
        """Load the engine (slow: off the UI thread). A bad adapter falls back to the base model.

        Raises:
            ModelError: the model itself cannot run (e.g. a base model without a chat template).
        """
        try:
            return self._load_engine()
        except EngineError as exc:  # one sentence for the user, no traceback
            raise ModelError(str(exc)) from exc

    def _load_engine(self) -> Engine:
        engine = self.engine()
        try:
            engine.load()
        except AdapterLoadError as exc:
            reason = str(exc).rstrip(". ")  # AdapterError lists problems without a full stop
            self.notice = f"{reason[:1].upper()}{reason[1:]}. Running on the base model."
            self._mark_adapter_unloadable(engine.adapter_version, str(exc))
            with self._engine_lock:
                self._engine = LlamaEngine(
                    engine.model,
                    n_ctx=engine.n_ctx,
                    n_threads=engine.n_threads,
                )
                engine = self._engine
            engine.load()
        return engine

    def _active_adapter(self, model: ModelFile) -> tuple[Path | None, str | None]:
        """The active, untainted adapter trained on this exact base model, if any."""
        if not self._use_adapters:
            return None, None
        try:
            from ondevice.adapters import AdapterRegistry
        except ImportError:  # learning not installed in this build
            return None, None
        registry = AdapterRegistry(self.store, self.home)
        active = registry.loadable(model.sha256)
        if registry.notice:  # also when it fell back to an earlier adapter
            self.notice = registry.notice
        if active is None:
            return None, None
        return active.path, active.version

    def _mark_adapter_unloadable(self, version: str | None, reason: str) -> None:
        if version is None:
            return
        try:
            from ondevice.adapters import AdapterRegistry
        except ImportError:
            return
        AdapterRegistry(self.store, self.home).mark_broken(version, reason)

    def reset_engine(self) -> None:
        """Forget the engine (after a model or adapter change); the next use loads anew."""
        with self._engine_lock:
            if self._engine is not None:
                self._engine.close()
            self._engine = None

    # -- services -----------------------------------------------------------------------------

    def memories(self):
        from app.memories import MemoryService

        return MemoryService(self)

    def chat(self, use_memories: bool = True) -> ChatService:
        settings = ChatSettings(
            logging=self.settings.get("logging_enabled"), use_memories=use_memories
        )
        memories = None
        try:
            memories = self.memories()
        except ImportError:
            pass
        return ChatService(self.log, self.load_engine(), settings, memories)

    def close(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        self.store.close()
