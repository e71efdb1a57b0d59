"""Screenshots of each view of the real desktop window, for the README (docs/*.png).

Seeds demo data into a temporary data folder, opens the main window on the real bundled model
under an X server (Xvfb when there is no display: this script re-runs itself under xvfb-run),
and captures the window from the screen.

    scripts/with-blas.sh .venv/bin/python scripts/screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SIZE = (1180, 760)

DEMO_ANSWER = """Here is a small function that reverses the words of a sentence:

```python
def reverse_words(text: str) -> str:
    return " ".join(reversed(text.split()))
```

How it works:

1. `split()` cuts the sentence at every space.
2. `reversed()` walks the words from the end.
3. `join()` glues them back together with spaces.

You said you prefer **short answers**, so that's all you need!"""


def under_xvfb() -> None:
    """Re-run this script under xvfb-run when no display is available (a real X window)."""
    if os.environ.get("DISPLAY") or os.environ.get("NOCTURNE_SCREENSHOT_CHILD"):
        return
    if not shutil.which("xvfb-run"):
        sys.exit("screenshots: no display and no xvfb-run: run scripts/system-deps.sh first.")
    env = {**os.environ, "NOCTURNE_SCREENSHOT_CHILD": "1"}
    env.pop("QT_QPA_PLATFORM", None)
    code = subprocess.call(["xvfb-run", "-a", "-s", "-screen 0 1400x900x24",
                            sys.executable, *sys.argv], env=env)
    sys.exit(code)


def seed(app) -> dict:
    """Demo conversations, memories, runs and adapters, written through the app's services."""
    from ui.services import memory_service

    log, memories = app.log, memory_service(app)
    chat = log.create("Reverse the words of a sentence")
    log.add_message(chat, "user", "I prefer short answers. How do I reverse the words of a "
                    "sentence in Python?")
    log.add_message(chat, "assistant", DEMO_ANSWER, model="SmolLM2-135M-Instruct.Q4_1",
                    adapter_version="2025-06-03-1", completion_tokens=96, tokens_per_s=41.7,
                    duration_ms=2400.0, ttft_ms=110.0, prompt_tokens=80, rating=1)
    trip = log.create("Packing list for Lisbon")
    trip_message = log.add_message(trip, "user", "I'm going to Lisbon in May, with my dog Miso.")
    log.add_message(trip, "assistant", "Lovely! Pack light layers and a leash for Miso.",
                    model="SmolLM2-135M-Instruct.Q4_1")
    for title in ("Sourdough starter feeding schedule", "Explain LoRA like I'm five",
                  "Draft an email to my landlord"):
        other = log.create(title)
        log.add_message(other, "user", title)
        log.add_message(other, "assistant", "…", model="SmolLM2-135M-Instruct.Q4_1")

    learned = [memories.add("I prefer short answers.", kind="preference"),
               memories.add("My name is Ada and I work as a data engineer.", kind="fact")]
    memories.remember_message(trip_message)
    memories.add("My dog is called Miso.", kind="fact")
    memories.add("The user likes answers with code examples in Python.", kind="style",
                 status="pending")
    memories.add("The user lives in Lisbon.", kind="fact", status="rejected")

    recalls = [0.42, 0.55, 0.61, 0.58, 0.74, 0.83]
    with app.store.transaction() as db:
        for night, recall in enumerate(recalls, start=1):
            version = f"2025-06-{night:02d}-1" if night in (1, 3, 6) else None
            db["training_runs"].insert({
                "trigger": "scheduled" if night != 4 else "manual",
                "started_at": f"2025-06-{night:02d}T03:00:00+00:00",
                "ended_at": f"2025-06-{night:02d}T03:04:12+00:00",
                "status": "succeeded" if version else "rejected", "trainer": "llamacpp",
                "adapter_version": version,
                "metrics": json.dumps({"recall": recall, "drift": 0.01 + night / 400,
                                       "report": f"Learned {night + 1} memories; "
                                       f"{round(recall * (night + 1))} recalled from the weights "
                                       "alone. Drift stayed under the gate."}),
            })
            if version:
                db["adapters"].insert({
                    "version": version, "path": "", "base_sha256": "demo", "trainer": "llamacpp",
                    "status": "active" if night == 6 else "retired", "created_at":
                    f"2025-06-{night:02d}T03:04:12+00:00", "metrics": json.dumps({"recall": recall})})
        db["adapter_memories"].insert_all([{"adapter_version": "2025-06-06-1", "memory_id": m,
                                            "content_sha256": "demo", "recalled": 1}
                                           for m in learned])
    return {"chat": chat}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs"), help="folder for the PNG files")
    args = parser.parse_args()
    under_xvfb()

    from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot
    from PySide6.QtWidgets import QApplication

    qt = QApplication(sys.argv)
    from app.context import Nocturne
    from ui.icon import app_icon
    from ui.main_window import MainWindow
    from ui.style import apply_style

    qt.setApplicationName("Nocturne")
    qt.setWindowIcon(app_icon())
    apply_style(qt)
    home = Path(tempfile.mkdtemp(prefix="nocturne-shots-")) / "home"
    # The demo adapters have no files: run on the base model rather than show a fallback notice.
    app = Nocturne(home, adapters=False)
    ids = seed(app)
    from ui.services import nightly_scheduler

    # Not started: a screenshot must never launch a real learning run.
    window = MainWindow(app, scheduler=nightly_scheduler(app), max_tokens=24, load=False)
    window.resize(*SIZE)
    window.show()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def wait(signal=None, ms: int = 300) -> None:
        loop = QEventLoop()

        class Done(QObject):  # a QObject slot runs on the UI thread
            @Slot(object)
            def done(self, *_):
                loop.quit()

        done = Done()
        if signal is not None:
            signal.connect(done.done)
        QTimer.singleShot(ms if signal is None else 300_000, loop.quit)
        loop.exec()

    def shoot(name: str, widget=None) -> None:
        wait(ms=400)  # let layouts settle and paint
        widget = widget or window
        screen = widget.screen()
        image = screen.grabWindow(widget.winId())
        path = out / f"{name}.png"
        image.save(str(path))
        print(f"wrote {path} ({image.width()}x{image.height()})")

    # A real answer first, so the status bar shows the model and its speed.
    window.queue.load()
    wait(window.queue.worker.loaded)
    window.chat_view.new_chat(temporary=True)
    window.chat_view.send("Say hello in five words.")
    wait(window.chat_view.answer_finished)
    window.chat_view.new_chat()
    window.open_conversation(ids["chat"])
    window.chat_view.input.setPlainText("Thanks! Can you also do it for characters?")
    shoot("chat")

    window.tabs.setCurrentWidget(window.memories_view)
    window.memories_view.table.selectRow(0)
    shoot("memories")

    window.tabs.setCurrentWidget(window.learning_view)
    window.learning_view.adapters.selectRow(1)
    shoot("learning")

    window.tabs.setCurrentWidget(window.chat_view)
    dialog = window.open_settings()
    shoot("settings", dialog)
    dialog.reject()
    window.shutdown()
    shutil.rmtree(home.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
