"""How long does the UI thread stall while a model loads, answers stream, a model downloads and
a learning run goes on?

A QTimer probe ticks every few milliseconds on the UI thread; the longest gap between two
ticks, minus the interval, is the longest time the window could not react. Goal: < 50 ms.
Runs the real main window, styled as the app styles it, on the real bundled model in a
temporary data folder:
- load: the model loads on the model's thread;
- stream: answers stream into the chat;
- download: the Models pane downloads a GGUF (the bundled model's own bytes) from a Hugging
  Face hub on 127.0.0.1 (tests/hub_server.py; nothing leaves the machine);
- learning: Learn now starts a real `nocturne learn` child on two memories; the Learning view
  polls its progress for --learn-seconds, then the run is cancelled.

On Linux each stall is split, from the UI thread's own scheduler counters, into time it ran
(our code), time it waited for a free core (other programs: the machine's load) and time it
was blocked (the GIL or a lock held by another of our threads).

    scripts/with-blas.sh .venv/bin/python bench/ui_latency.py [--tokens 64] [--runs 3]
        [--learn-seconds 60] [--skip-learning]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

PROBE_MS = 5
GOAL_MS = 50.0
HUB_REPO, HUB_FILE = "someone/SmolLM2-GGUF", "SmolLM2-135M-Instruct-Q4_1.gguf"
MEMORIES = ["My cat is called Miso.", "I live in Lyon."]


def thread_schedstat() -> tuple[float, float] | None:
    """(ms on a core, ms waiting for a core) of the calling thread so far; None off Linux."""
    try:
        with open("/proc/thread-self/schedstat") as handle:
            ran, waited, _ = handle.read().split()
    except OSError:
        return None
    return int(ran) / 1e6, int(waited) / 1e6


class StallProbe(QObject):
    """Ticks on the UI thread and remembers the longest gap while recording, and where it went."""

    def __init__(self):
        super().__init__()
        self.timer = QTimer(self, interval=PROBE_MS)
        self.timer.timeout.connect(self._tick)
        self.reset()
        self.timer.start()

    def reset(self) -> None:
        self._last = time.perf_counter()
        self._last_stat = thread_schedstat()
        self.longest_ms = 0.0
        self.split: tuple[float, float, float] | None = None  # ran, waited for a core, blocked
        self.ticks = 0

    @Slot()
    def _tick(self) -> None:
        now, stat = time.perf_counter(), thread_schedstat()
        gap = (now - self._last) * 1000 - PROBE_MS
        if gap > self.longest_ms:
            self.longest_ms = gap
            if stat and self._last_stat:
                ran, waited = stat[0] - self._last_stat[0], stat[1] - self._last_stat[1]
                self.split = (ran, waited, max(0.0, gap + PROBE_MS - ran - waited))
        self._last, self._last_stat = now, stat
        self.ticks += 1

    def line(self) -> str:
        text = f"longest UI stall {self.longest_ms:6.1f} ms ({self.ticks} probe ticks)"
        if self.split:
            text += (f" = ran {self.split[0]:.0f} + waited for a core {self.split[1]:.0f}"
                     f" + blocked {self.split[2]:.0f} ms")
        return text


class Catcher(QObject):
    """Quits an event loop when a signal arrives (a QObject slot runs on the UI thread)."""

    def __init__(self, loop: QEventLoop, got: list):
        super().__init__()
        self.loop, self.got = loop, got

    @Slot(object)
    def catch(self, *args) -> None:
        self.got.extend(args)
        self.loop.quit()


def wait_for(signal, timeout_s: float = 600) -> list:
    """Run the event loop until `signal` fires (the probe keeps ticking meanwhile)."""
    loop = QEventLoop()
    got: list = []
    catcher = Catcher(loop, got)
    connection = signal.connect(catcher.catch)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    QObject.disconnect(connection)  # PySide6 6.12.0's signal.disconnect(slot) lost a ref to True
    return got


def wait_until(condition, timeout_s: float = 600) -> bool:
    """Run the event loop until `condition()` holds (checked every 20 ms) or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        loop = QEventLoop()
        QTimer.singleShot(20, loop.quit)
        loop.exec()
    return True


def measure_download(window, probe: StallProbe) -> float:
    models = window.models_view
    window.tabs.setCurrentWidget(models)
    wait_until(lambda: models.model.rowCount() > 0)
    models.repo_edit.setText(HUB_REPO)
    models.file_edit.setText(HUB_FILE)
    probe.reset()
    started = time.perf_counter()
    models.start_download()
    wait_until(lambda: not models.downloading)
    seconds = time.perf_counter() - started
    print(f"download     : {seconds * 1000:7.0f} ms, {probe.line()} [{models.status.text()}]")
    return probe.longest_ms


def measure_learning(window, probe: StallProbe, seconds: float) -> float:
    view = window.learning_view
    window.tabs.setCurrentWidget(view)
    probe.reset()
    view.learn_now()
    wait_until(lambda: False, seconds)  # the view polls the run's progress meanwhile
    stage = view.stage.text()
    stall = probe.longest_ms
    print(f"learning     : {seconds * 1000:7.0f} ms, {probe.line()} [{stage or 'no progress'}]")
    view.cancel()
    launcher = window.scheduler.launcher
    if launcher.process is not None:
        launcher.process.wait(120)
    return stall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64, help="max tokens per answer")
    parser.add_argument("--runs", type=int, default=3, help="answers to stream")
    parser.add_argument("--learn-seconds", type=float, default=60,
                        help="how long to watch a real learning run before cancelling it")
    parser.add_argument("--skip-learning", action="store_true", help="no learning phase")
    args = parser.parse_args()

    from ondevice.models import bundled_model_path
    from tests.hub_server import HubServer

    hub = HubServer({(HUB_REPO, HUB_FILE): bundled_model_path().read_bytes()}).__enter__()
    os.environ["HF_ENDPOINT"] = hub.endpoint  # read when huggingface_hub is first imported

    qt = QApplication.instance() or QApplication(sys.argv)
    from app.context import Nocturne
    from scheduler.nightly import NightlyScheduler
    from ui.main_window import MainWindow
    from ui.style import apply_style

    apply_style(qt)
    home = Path(tempfile.mkdtemp(prefix="nocturne-bench-")) / "home"
    app = Nocturne(home)
    for text in MEMORIES:
        app.memories().add(text)
    # Not started: the only run is the one Learn now launches below.
    window = MainWindow(app, scheduler=NightlyScheduler(app), max_tokens=args.tokens, load=False)
    window.resize(1180, 780)
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
    stalls = [probe.longest_ms]
    print(f"model load   : {load_s * 1000:7.0f} ms, {probe.line()} "
          f"[{info[0]['model'] if info else 'not loaded'}]")

    prompts = ["Write a short poem about the sea.", "Explain what a list is in Python.",
               "Give me three tips for sleeping well."]
    for number in range(args.runs):
        probe.reset()
        window.chat_view.send(prompts[number % len(prompts)])
        result = wait_for(window.chat_view.answer_finished)[0]
        stalls.append(probe.longest_ms)
        words = len(result["text"].split())
        print(f"stream #{number + 1}    : {result['tokens_per_s'] or 0:5.1f} tok/s, {words:3d} words,"
              f" {probe.line()}")
    stalls.append(measure_download(window, probe))
    if not args.skip_learning:
        stalls.append(measure_learning(window, probe, args.learn_seconds))

    # Tear down in order while Qt is alive: the model thread and its engine first, then the
    # widgets; left to interpreter exit, Qt and llama objects die in any order and it crashed.
    probe.timer.stop()
    window.shutdown()
    window.deleteLater()
    del window
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    gc.collect()
    hub.__exit__(None, None, None)
    worst = max(stalls)
    verdict = "OK" if worst < GOAL_MS else "OVER GOAL"
    print(f"longest UI-thread stall: {worst:.1f} ms (goal < {GOAL_MS:.0f} ms): {verdict}")
    if hasattr(os, "getloadavg"):  # stalls grow when other programs keep every core busy
        print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
