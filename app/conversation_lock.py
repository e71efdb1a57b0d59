"""One turn at a time per conversation, across windows and commands: an OS file lock.

Without it two processes continuing one conversation interleave their turns (question A,
question B, answer A, answer B). The OS drops the lock when its holder dies, kill -9 included.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from filelock import Timeout

from app.errors import StoreError
from app.os_lock import os_file_lock
from app.paths import subdir

# Long enough for another window's answer to finish; a turn never waits forever.
TURN_WAIT_S = 600.0


@contextlib.contextmanager
def conversation_turn(home: Path, conversation_id: int, wait_s: float = TURN_WAIT_S) -> Iterator[None]:
    """Hold conversation `conversation_id`'s turn lock for the block (waits for another turn).

    Raises:
        StoreError: another process kept the conversation busy for longer than `wait_s`.
    """
    lock = os_file_lock(subdir(Path(home), "locks") / f"conversation-{conversation_id}.lock")
    try:
        lock.acquire(timeout=wait_s)
    except Timeout as exc:
        raise StoreError(
            f"Conversation {conversation_id} is busy answering in another Nocturne window or "
            "command: wait for it to finish and try again."
        ) from exc
    try:
        yield
    finally:
        lock.release()
