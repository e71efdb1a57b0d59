"""Small helpers every command module shares."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from app.context import Nocturne


@contextmanager
def opened(model_path: str | None = None, adapters: bool = True) -> Iterator[Nocturne]:
    """A Nocturne for one command, closed (WAL checkpointed) afterwards."""
    app = Nocturne(model_path=model_path, adapters=adapters)
    try:
        yield app
    finally:
        app.close()


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Plain left-aligned columns for terminal output."""
    cells = [headers] + [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
