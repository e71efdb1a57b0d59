"""Run one slow call (reading model headers, a download) on its own thread, report by signals.

The call gets a `report(value)` function for progress and a `stopped()` function it should
poll; results leave only through queued signals, so slots run on the UI thread.
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import QObject, QThread, Signal


class _CallThread(QThread):
    def __init__(self, body: Callable[[], None]):
        super().__init__()
        self._body = body

    def run(self) -> None:
        self._body()


class BackgroundCall(QObject):
    """`fn(report, stopped)` on a QThread. Emits progress(object), done(object), failed(str).

    Args:
        fn: the slow call; exceptions become `failed` with their message.
    """

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal(str)

    def __init__(self, fn: Callable, parent: QObject | None = None,
                 cancel_types: tuple[type[BaseException], ...] = ()):
        super().__init__(parent)
        self._fn = fn
        self._cancel_types = cancel_types
        self._stop = threading.Event()
        self._thread = _CallThread(self._run)  # runs the call itself, no event loop needed

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()

    def wait(self, ms: int = 30_000) -> bool:
        return self._thread.wait(ms)

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def _run(self) -> None:
        try:
            result = self._fn(self.progress.emit, self._stop.is_set)
        except self._cancel_types as exc:
            self.cancelled.emit(str(exc))
        except Exception as exc:  # shown to the user in one sentence; the app keeps going
            self.failed.emit(str(exc) or type(exc).__name__)
        else:
            self.done.emit(result)
