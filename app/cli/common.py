"""Small helpers every command module shares."""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager, suppress
from typing import Iterator

from app.context import Nocturne
from app.model_check import check_model_file
from app.text_input import escape_controls


@contextmanager
def opened(model_path: str | None = None, adapters: bool = True) -> Iterator[Nocturne]:
    """A Nocturne for one command, closed (WAL checkpointed) afterwards."""
    if model_path is not None:
        check_model_file(model_path)  # in milliseconds, before anything slow
    app = Nocturne(model_path=model_path, adapters=adapters)
    try:
        yield app
    finally:
        app.close()


# SIGHUP arrives when the terminal closes; Windows has only SIGTERM.
ENDING_SIGNALS = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]


class Terminated(BaseException):
    """SIGTERM or SIGHUP: the command stops as Ctrl-C would, keeps what it has, and exits.

    A BaseException, like KeyboardInterrupt, so no `except Exception` swallows it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.exit_code = 128 + signum


@contextmanager
def ending_signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise Terminated (once: repeats are ignored, so
    they cannot interrupt the saving of what arrived)."""

    def stop(signum, frame) -> None:
        for sig in ENDING_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise Terminated(signum)

    previous = {sig: signal.signal(sig, stop) for sig in ENDING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def deleted(app: Nocturne, what: str) -> str:
    """The sentence after a delete: gone for good, or gone once another reader lets go."""
    if app.store.purge_pending:
        return (f"Deleted {what}; another open Nocturne (a window or a command) is still "
                "reading the database, so the text leaves the file on disk when it closes.")
    return f"Deleted {what} for good."


def err(message: str) -> None:
    # After SIGHUP the terminal is gone: a note that cannot be shown is not an error.
    with suppress(OSError):
        print(message, file=sys.stderr, flush=True)


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Plain left-aligned columns for terminal output."""
    cells = [headers] + [[("" if c is None else escape_controls(str(c))) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
