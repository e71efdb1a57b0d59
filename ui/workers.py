"""Slow work off the UI thread: one QThread and one job queue per loaded model.

The worker owns the chat service (its engine is loaded in the worker's thread). Jobs arrive
through queued signals, so the thread's event queue *is* the model's queue: one load or one
answer at a time, in order. Results leave only as signals carrying plain data; the worker
never touches a widget. Every job can be cancelled; `shutdown()` cancels all and joins.
"""

from __future__ import annotations

import itertools
import random
import sys
import threading
from dataclasses import replace

from PySide6.QtCore import QMetaObject, QObject, Qt, QThread, Signal, Slot

from app.conversations import Conversation

SHUTDOWN_WAIT_MS = 30_000
GIL_SWITCH_S = 0.001  # Python's default 5 ms lets a busy worker delay the UI thread's paint


def share_gil_fairly() -> None:
    """Hand the GIL between threads more often, so the model's Python work never starves the UI."""
    if sys.getswitchinterval() > GIL_SWITCH_S:
        sys.setswitchinterval(GIL_SWITCH_S)


class ModelWorker(QObject):
    """Lives in the model's thread. Use it through `ModelQueue`, never call its slots directly."""

    load_started = Signal()
    loaded = Signal(dict)  # {"model", "adapter" (the version loaded, None: base), "base_sha256", "notice"}
    load_failed = Signal(str)
    piece = Signal(int, str)  # job id, text piece
    reply_finished = Signal(int, dict)  # job id, {"status", "text", "message_id", ...}

    _load_requested = Signal()
    _reply_requested = Signal(int, object, str, bool, bool)

    def __init__(self, app, max_tokens: int | None = None):
        super().__init__()
        self.app = app
        self.max_tokens = max_tokens
        self._chat = None
        self._use_memories = True
        self._lock = threading.Lock()
        self._cancelled: set[int] = set()
        self._current: tuple[int, object] | None = None  # (job id, Reply) being generated
        self._load_requested.connect(self._load)
        self._reply_requested.connect(self._reply)

    # -- called from the UI thread (thread-safe) ----------------------------------------------

    def cancel(self, job_id: int) -> None:
        with self._lock:
            self._cancelled.add(job_id)
            if self._current and self._current[0] == job_id:
                self._current[1].cancel()

    def cancel_all(self, up_to: int) -> None:
        with self._lock:
            self._cancelled.update(range(1, up_to + 1))
            if self._current:
                self._current[1].cancel()

    # -- the model's thread -------------------------------------------------------------------

    @Slot()
    def _load(self) -> None:
        self.load_started.emit()
        try:
            self._service()
        except Exception as exc:  # any failure is shown to the user, never kills the thread
            self.load_failed.emit(str(exc) or type(exc).__name__)
            return
        engine = self._chat.engine
        self.loaded.emit({"model": engine.model_name, "adapter": engine.adapter_version,
                          "base_sha256": engine.model.sha256, "notice": self.app.notice})

    def _service(self):
        if self._chat is None:
            self._chat = self.app.chat(use_memories=self._use_memories)
        return self._chat

    @Slot(int, object, str, bool, bool)
    def _reply(self, job_id: int, conversation: Conversation, text: str, vary: bool,
               use_memories: bool) -> None:
        result = {"status": "cancelled", "text": "", "message_id": None, "user_message_id": None,
                  "conversation_id": conversation.id, "tokens_per_s": None, "error": None}
        with self._lock:
            skip = job_id in self._cancelled
        if skip:
            self.reply_finished.emit(job_id, result)
            return
        try:
            # A fresh service per answer (the loaded engine is reused): it reads the settings
            # as they are now, so switching logging off takes effect at the next message.
            service = self._chat = self.app.chat(use_memories=use_memories)
            options = base = service.settings.options
            if self.max_tokens:
                options = replace(options, max_tokens=self.max_tokens)
            if vary:  # Regenerate: sample a different answer instead of the greedy one
                options = replace(options, temperature=0.8, seed=random.randrange(2**31))
            service.settings.options = options
            try:
                reply = service.reply(conversation, text)
                with self._lock:
                    self._current = (job_id, reply)
                    if job_id in self._cancelled:
                        reply.cancel()
                for piece in reply:
                    self.piece.emit(job_id, piece)
            finally:
                service.settings.options = base
                with self._lock:
                    self._current = None
            result.update(status=reply.status, text=reply.text, message_id=reply.message_id,
                          user_message_id=reply.user_message_id, error=reply.error,
                          conversation_id=conversation.id,
                          tokens_per_s=reply.usage.tokens_per_s if reply.usage else None)
        except Exception as exc:  # shown on the message; the queue keeps serving
            result.update(status="error", error=str(exc) or type(exc).__name__,
                          conversation_id=conversation.id)
        self.reply_finished.emit(job_id, result)

    @Slot()
    def _forget_engine(self) -> None:
        self._chat = None
        self.app.reset_engine()


class ModelQueue(QObject):
    """The UI's handle on one model: load, ask, cancel, shut down. Signals come from `worker`.

    Args:
        app: the Nocturne instance (its store is thread-safe).
        max_tokens: cap every answer at this many tokens (None: the service's default).
    """

    _forget = Signal()

    def __init__(self, app, max_tokens: int | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.app = app
        share_gil_fairly()
        self._ids = itertools.count(1)
        self._last_id = 0
        self.thread = QThread()
        self.thread.setObjectName("nocturne-model")
        self.worker = ModelWorker(app, max_tokens)
        self.worker.moveToThread(self.thread)
        self._forget.connect(self.worker._forget_engine)
        self.thread.start()
        self._closed = False

    def load(self) -> None:
        """Load the model in the background; `worker.loaded` or `worker.load_failed` follows."""
        self.worker._load_requested.emit()

    def reload(self) -> None:
        """Drop the engine (model or adapter changed) and load again, after queued jobs."""
        self.cancel_all()
        self._forget.emit()
        self.load()

    def ask(self, conversation: Conversation, text: str, vary: bool = False,
            use_memories: bool = True) -> int:
        """Queue one answer; returns its job id (pieces and the result carry it).

        Args:
            conversation: the chat to answer in (mutated by the service: id, history).
            text: the user's message.
            vary: sample a different answer (Regenerate) instead of the greedy one.
            use_memories: put relevant memories into the prompt.
        Returns:
            the job id.
        """
        job_id = next(self._ids)
        self._last_id = job_id
        self.worker._reply_requested.emit(job_id, conversation, text, vary, use_memories)
        return job_id

    def cancel(self, job_id: int) -> None:
        self.worker.cancel(job_id)

    def cancel_all(self) -> None:
        self.worker.cancel_all(self._last_id)

    def shutdown(self) -> None:
        """Cancel every job, close the engine in the model's thread, and stop the thread.

        Waits for a model load to finish. The engine is closed here, in the thread that loaded
        it, and not left to interpreter exit, where llama and Qt objects die in any order.
        """
        if self._closed:
            return
        self._closed = True
        self.cancel_all()
        if self.thread.isRunning():  # waits for the cancelled job, then closes the engine there
            QMetaObject.invokeMethod(self.worker, "_forget_engine", Qt.BlockingQueuedConnection)
        self.thread.quit()
        self.thread.wait(SHUTDOWN_WAIT_MS)
