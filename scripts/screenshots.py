"""Screenshots of each view of the real desktop window, for the README (docs/*.png).

Seeds demo chats and memories into a temporary data folder, runs real learning jobs on them
(the Learning view shows what they reported), opens the main window on the real bundled model
under an X server (Xvfb when there is no display: this script re-runs itself under xvfb-run),
and captures the window from the screen.

    scripts/with-blas.sh .venv/bin/python scripts/screenshots.py [--out docs] [--nights 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SIZE = (1180, 760)

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
    """Demo conversations and memories, written through the app's services. Every answer in
    them is the bundled model's own, generated here: the pictures never show a made-up answer."""
    from app.conversations import Conversation
    from ui.services import memory_service

    log, memories = app.log, memory_service(app)

    def ask(text: str) -> Conversation:
        conversation = Conversation()
        app.chat().reply(conversation, text).consume()
        return conversation

    chat = ask("I prefer short answers. How do I reverse the words of a sentence in Python?").id
    trip = ask("I'm going to Lisbon in May, with my dog Miso. What should I pack?").id
    trip_message = next(m["id"] for m in log.messages(trip) if m["role"] == "user")
    for question in ("How often should I feed a sourdough starter?", "Explain LoRA like I'm five.",
                     "Draft a short email to my landlord about a broken heater."):
        ask(question)

    memories.add("I prefer short answers.", kind="preference")
    memories.add("My name is Ada and I work as a data engineer.", kind="fact")
    memories.remember_message(trip_message)
    memories.add("My dog is called Miso.", kind="fact")
    memories.add("The user likes answers with code examples in Python.", kind="style",
                 status="pending")
    memories.add("The user lives in Lisbon.", kind="fact", status="rejected")

    return {"chat": chat}


def learn(app, nights: int, fast: bool) -> None:
    """Real learning runs on the demo memories: the Learning view shows what they reported.

    Args:
        nights: how many runs (one point each on the recall chart).
        fast: a trainer that writes a tiny random adapter (rejected by the gate: for checking
            this script in seconds, not for the README's pictures).
    """
    from app.learning_job import JobOptions, run_learning_job
    from app.learning_report import headline

    options = JobOptions()
    if fast:
        from tests.learning_helpers import TinyRandomTrainer

        options = JobOptions(replay_limit=2, drift_text_limit=2, trainer_cls=TinyRandomTrainer)
    for night in range(1, nights + 1):
        report = run_learning_job(app, trigger="scheduled", options=options)
        print(f"learning run {night} of {nights}: {headline(report)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs"), help="folder for the PNG files")
    parser.add_argument("--nights", type=int, default=2,
                        help="real learning runs before the Learning view is shot (minutes each)")
    parser.add_argument("--fast-trainer", action="store_true",
                        help="learn with a tiny random adapter (seconds; to check the script)")
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
    app = Nocturne(home)
    ids = seed(app)
    learn(app, args.nights, args.fast_trainer)
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
    window.learning_view.adapters.selectRow(0)
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
