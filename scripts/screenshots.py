"""Screenshots of every view of the real desktop window, light and dark, for the README (docs/).

Seeds demo chats and memories into a temporary data folder (every answer is the bundled model's
own, generated here), runs real learning jobs on them with the llama.cpp trainer (the Learning
view shows what they reported: one point per night on the chart), opens the main window on the
real bundled model under an X server (Xvfb when there is no display: this script re-runs itself
under xvfb-run), asks one more question in the window itself, and captures the window from the
screen: welcome, chat, memories, learning and models, first light, then dark.

    scripts/with-blas.sh .venv/bin/python scripts/screenshots.py [--out docs] [--nights 2]
        [--max-minutes N] [--replay N] [--fast-trainer] [--home DIR]

With --home, the data folder is kept; run again with the same --home, it is neither seeded nor
taught again (only the nights it still lacks run): to re-shoot after a change to the look.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SIZE = (1180, 880)  # the Learning view whole, tables too, on a 1400x900 Xvfb screen
VIEWS = ("welcome", "chat", "memories", "learning", "models")
# Memories taught on the first night; one more is said before each later night, as a user would.
FIRST_NIGHT = ["I prefer short answers.", "My name is Ada and I work as a data engineer.",
               "My dog is called Miso."]
LATER_NIGHTS = ["I live in Porto.", "My sister's name is Ingrid."]
SIDE_CHAT_TOKENS = 64  # answers only listed in the sidebar (never shown) are kept short: minutes


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


def seed(app) -> int:
    """Demo conversations and memories, written through the app's services. Every answer in
    them is the bundled model's own, generated here: the pictures never show a made-up answer."""
    from app.conversations import Conversation
    from ui.services import memory_service

    log, memories = app.log, memory_service(app)

    def ask(text: str, max_tokens: int | None = None) -> Conversation:
        conversation = Conversation()
        service = app.chat()
        if max_tokens:
            service.settings.options = replace(service.settings.options, max_tokens=max_tokens)
        service.reply(conversation, text).consume()
        return conversation

    chat = ask("How do I reverse the words of a sentence in Python?").id
    trip = ask("I'm going to Lisbon in May, with my dog Miso. What should I pack?",
               SIDE_CHAT_TOKENS).id
    trip_message = next(m["id"] for m in log.messages(trip) if m["role"] == "user")
    for question in ("How often should I feed a sourdough starter?", "Explain LoRA like I'm five.",
                     "Draft a short email to my landlord about a broken heater."):
        ask(question, SIDE_CHAT_TOKENS)

    for text in FIRST_NIGHT:
        memories.add(text, kind="preference" if "prefer" in text else "fact")
    memories.remember_message(trip_message)
    memories.add("The user likes answers with code examples in Python.", kind="style",
                 status="pending")
    memories.add("The user lives in Lisbon.", kind="fact", status="rejected")
    return chat


def learn(app, nights: int, max_minutes: float | None, replay: int | None, fast: bool) -> None:
    """Real learning runs: the Learning view and its chart show what they reported.

    Args:
        nights: how many finished runs (one point each on the recall chart); before each night
            after the first, the user tells Nocturne one more thing about themselves. Nights a
            kept data folder already has are not run again.
        max_minutes: the training budget of each night (None: the nightly job's own).
        replay: use only the first N shipped replay prompts (None: all of them).
        fast: a trainer that writes a tiny random adapter (rejected by the gate: for checking
            this script in minutes, never for the README's pictures).
    """
    from app.learning_job import JobOptions, run_learning_job
    from app.learning_report import headline
    from ui.services import memory_service

    options = JobOptions(replay_limit=replay)
    if fast:
        from tests.learning_helpers import TinyRandomTrainer

        options = JobOptions(replay_limit=2, drift_text_limit=2, trainer_cls=TinyRandomTrainer)
    done = app.store.query_one("SELECT COUNT(*) AS n FROM training_runs WHERE status IN "
                               "('succeeded', 'rejected')")["n"]
    for night in range(done + 1, nights + 1):
        if night > 1:
            memory_service(app).add(LATER_NIGHTS[(night - 2) % len(LATER_NIGHTS)], kind="fact")
        started = time.monotonic()
        report = run_learning_job(app, trigger="scheduled", trainer="llamacpp",
                                  max_minutes=max_minutes, options=options)
        print(f"learning run {night} of {nights} ({time.monotonic() - started:.0f} s): "
              f"{headline(report)}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs"), help="folder for the PNG files")
    parser.add_argument("--nights", type=int, default=2,
                        help="real learning runs before the Learning view is shot (minutes each)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="training budget of each night (default: the nightly job's own)")
    parser.add_argument("--fast-trainer", action="store_true",
                        help="learn with a tiny random adapter (to check the script, not for docs)")
    parser.add_argument("--replay", type=int, default=None,
                        help="use only the first N replay prompts (default: all; a busy machine)")
    parser.add_argument("--home", help="data folder to keep and shoot again (default: a temporary one)")
    args = parser.parse_args()
    under_xvfb()

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    qt = QApplication(sys.argv)
    from app.context import Nocturne
    from ui.icon import app_icon
    from ui.main_window import MainWindow
    from ui.services import nightly_scheduler
    from ui.style import apply_style

    qt.setApplicationName("Nocturne")
    qt.setWindowIcon(app_icon())
    apply_style(qt)
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    home = Path(args.home or tempfile.mkdtemp(prefix="nocturne-shots-")) / "home"
    app = Nocturne(home)
    first = app.store.query_one("SELECT id FROM conversations ORDER BY id LIMIT 1")
    chat_id = seed(app) if first is None else first["id"]  # a kept folder is not seeded again
    learn(app, args.nights, args.max_minutes, args.replay, args.fast_trainer)

    # Not started: a screenshot must never launch a real learning run.
    window = MainWindow(app, scheduler=nightly_scheduler(app), load=False)
    window.resize(*SIZE)
    window.show()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chat = window.chat_view

    def until(condition, seconds: float = 900) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                sys.exit("screenshots: the window did not get there in time.")
            QTest.qWait(50)  # keeps the event loop (and the answer's stream) running

    def shoot(name: str) -> None:
        QTest.qWait(600)  # let layouts settle and paint
        image = window.screen().grabWindow(window.winId())
        path = out / f"{name}.png"
        image.save(str(path))
        print(f"wrote {path} ({image.width()}x{image.height()})", flush=True)

    window.queue.load()
    until(lambda: window.model_label.text() != "Model: loading…")
    # One more question asked in the window itself: a streamed answer, and its speed below
    # (shot again: a temporary chat's answer, never saved, gives the speed).
    window.open_conversation(chat_id)
    if sum(m["role"] == "user" for m in app.log.messages(chat_id)) > 1:
        chat.new_chat(temporary=True)
        chat.send("Say hello in five words.")
    else:
        chat.send("Thanks! And how do I reverse the letters instead?")
    until(lambda: not chat.busy)
    window.models_view.refresh()
    until(lambda: window.models_view.model.rowCount() > 0)

    def show(view: str) -> None:
        if view == "welcome":
            window.tabs.setCurrentWidget(chat)
            chat.new_chat()
        elif view == "chat":
            window.open_conversation(chat_id)
        elif view == "memories":
            window.tabs.setCurrentWidget(window.memories_view)
            window.memories_view.table.selectRow(0)
        elif view == "learning":
            window.tabs.setCurrentWidget(window.learning_view)
            window.learning_view.adapters.selectRow(0)
        else:
            window.tabs.setCurrentWidget(window.models_view)
            window.models_view.table.selectRow(0)

    for scheme, suffix in ((Qt.ColorScheme.Light, "light"), (Qt.ColorScheme.Dark, "dark")):
        QGuiApplication.styleHints().colorSchemeChanged.emit(scheme)  # what the OS does
        for view in VIEWS:
            show(view)
            shoot(f"{view}-{suffix}")
    window.shutdown()
    if not args.home:
        shutil.rmtree(home.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
