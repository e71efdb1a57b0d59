"""The gate's check in chat, run again on a finished night's data folder (a bench run keeps it).

Rebuilds the night's held-out probes from its approved memories, asks them bare of the base model
and of the active adapter (which memories the weights recall), then runs
`app.learning_gate.check_in_chat` as the job does: which memories leave chat's prompt, and the
adapter's recall with chat's prompt against the base model's with every memory in its prompt.

    .venv/bin/python bench/chat_check.py /tmp/nocturne-bench-llamacpp-100-XXXX [--all]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.context import Nocturne  # noqa: E402  (after the path: run as a script)
from app.learned_check import learned_from_weights  # noqa: E402
from app.learning_gate import CHAT_CHECK_PROBES, candidate_engine, check_in_chat, recall_with  # noqa: E402
from app.learning_job import token_counter, approved_memories  # noqa: E402
from app.prompt import SYSTEM_PROMPT, system_message  # noqa: E402
from app.secrets_filter import find_secret  # noqa: E402
from ondevice.adapters import AdapterRegistry  # noqa: E402
from ondevice.training.dataset import ChatTemplate, build_training_set  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path, help="a data folder with a promoted adapter")
    parser.add_argument("--all", action="store_true",
                        help=f"compare the models on every probe, not at most {CHAT_CHECK_PROBES}")
    options = parser.parse_args()
    if not (options.home / "nocturne.db").is_file():  # opening it would create a new data folder
        sys.exit(f"{options.home} is not a Nocturne data folder.")
    app = Nocturne(options.home)
    try:
        model, active = app.model(), AdapterRegistry(app.store, app.home).active()
        if active is None:
            sys.exit(f"{options.home} has no active adapter to check.")
        probes = build_training_set(
            approved_memories(app), ChatTemplate.for_model(model), SYSTEM_PROMPT, token_counter(model.path),
            replay=[], feedback=[], is_secret=find_secret,
            system_with_memories=lambda texts: system_message(texts)["content"])[0].probes
        threads, never = app.settings.get("threads"), (lambda: False)
        started = time.monotonic()
        base = recall_with(model, None, probes, threads, never)
        adapter = recall_with(model, active.path, probes, threads, never)
        print(f"adapter {active.version}: {len(probes)} probes; bare: adapter {adapter.hits}/{adapter.total}, "
              f"base {base.hits}/{base.total} ({time.monotonic() - started:.0f} s)")
        started = time.monotonic()
        chat = check_in_chat(lambda path: candidate_engine(model, path, threads), active.path, app.store, probes,
                             learned_from_weights(adapter, base), never, lambda event: None,
                             compare_at_most=len(probes) if options.all else CHAT_CHECK_PROBES)
        print(f"in chat: adapter {chat.adapter.hits}/{chat.adapter.total} ({chat.adapter.rate:.0%}), base "
              f"{chat.base.hits}/{chat.base.total} ({chat.base.rate:.0%}); memories leaving the prompt "
              f"{len(chat.learned)}; promote: {chat.promote}{' (' + chat.reason + ')' if chat.reason else ''}; "
              f"{time.monotonic() - started:.0f} s")
    finally:
        app.close()


if __name__ == "__main__":
    main()
