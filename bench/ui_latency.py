"""How long does the UI thread stall while a model loads and while an answer streams?

A QTimer probe ticks every few milliseconds on the UI thread; the longest gap between two
ticks, minus the interval, is the longest time the window could not react. Goal: < 50 ms.
Runs the real main window on the real bundled model in a temporary data folder.

    scripts/with-blas.sh .venv/bin/python bench/ui_latency.py [--tokens 64] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

PROBE_MS = 5
GOAL_MS = 50.0


class StallProbe(QObject):
    """Ticks on the UI thread and remembers the longest gap while recording."""

    def __init__(self):
        super().__init__()
        self.timer = QTimer(self, interval=PROBE_MS)
        self.timer.timeout.connect(self._tick)
        self._last = time.perf_counter()
        self.longest_ms = 0.0
        self.ticks = 0
        self.timer.start()

    def reset(self) -> None:
        self._last = time.perf_counter()
        self.longest_ms, self.ticks = 0.0, 0

    @Slot()
    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest_ms = max(self.longest_ms, (now - self._last) * 1000 - PROBE_MS)
        self._last = now
        self.ticks += 1


def wait_for(signal, timeout_s: float = 300) -> list:
    """Run the event loop until `signal` fires (the probe keeps ticking meanwhile)."""
    loop = QEventLoop()
    got: list = []

    class Catcher(QObject):  # a QObject slot runs on the UI thread, a lambda would not
        @Slot(object)
        def catch(self, *args):
            got.extend(args)
            loop.quit()

    catcher = Catcher()
    signal.connect(catcher.catch)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(catcher.catch)
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64, help="max tokens per answer")
    parser.add_argument("--runs", type=int, default=3, help="answers to stream")
    args = parser.parse_args()

    qt = QApplication.instance() or QApplication(sys.argv)
    from app.context import Nocturne
    from ui.main_window import MainWindow

    home = Path(tempfile.mkdtemp(prefix="nocturne-bench-")) / "home"
    window = MainWindow(Nocturne(home), max_tokens=args.tokens, load=False)
    window.show()
    probe = StallProbe()
    for _ in range(20):  # let the window settle (first paint) before measuring
        qt.processEvents()
        time.sleep(0.005)

    probe.reset()
    started = time.perf_counter()
    window.queue.load()
    info = wait_for(window.queue.worker.loaded)
    load_s = time.perf_counter() - started
    load_stall = probe.longest_ms
    print(f"model load   : {load_s * 1000:7.0f} ms, longest UI stall {load_stall:5.1f} ms "
          f"({probe.ticks} probe ticks) [{info[0]['model'] if info else 'not loaded'}]")

    prompts = ["Write a short poem about the sea.", "Explain what a list is in Python.",
               "Give me three tips for sleeping well."]
    stalls = []
    for number in range(args.runs):
        probe.reset()
        window.chat_view.send(prompts[number % len(prompts)])
        result = wait_for(window.chat_view.answer_finished)[0]
        stalls.append(probe.longest_ms)
        words = len(result["text"].split())
        print(f"stream #{number + 1}    : {result['tokens_per_s'] or 0:5.1f} tok/s, {words:3d} words,"
              f" longest UI stall {probe.longest_ms:5.1f} ms ({probe.ticks} probe ticks)")
    # Tear down in order while Qt is alive: the model thread and its engine first, then the
    # widgets; left to interpreter exit, Qt and llama objects die in any order and it crashed.
    probe.timer.stop()
    window.shutdown()
    window.deleteLater()
    del window
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    gc.collect()
    worst = max([load_stall] + stalls)
    verdict = "OK" if worst < GOAL_MS else "OVER GOAL"
    print(f"longest UI-thread stall: {worst:.1f} ms (goal < {GOAL_MS:.0f} ms): {verdict}")
    if hasattr(os, "getloadavg"):  # stalls grow when other programs keep every core busy
        print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
