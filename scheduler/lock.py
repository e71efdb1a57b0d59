"""A run lock that a dead process cannot hold: an flock on a file in the data dir.

The kernel drops an flock when its holder exits, however it exits (kill -9 included), so a
crashed run never blocks the next night. The file records the holder's pid for status output.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class RunLockHeld(Exception):
    """Another learning run holds the lock."""


class RunLock:
    """Usage: `with RunLock(home / "learning.lock"): ...` (raises RunLockHeld if taken)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live process holds it."""
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> int | None:
        """Pid of the live holder, or None when the lock is free."""
        probe = RunLock(self.path)
        if probe.acquire():
            probe.release()
            return None
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def __enter__(self) -> "RunLock":
        if not self.acquire():
            raise RunLockHeld(f"Another learning run (pid {self.holder()}) is already running.")
        return self

    def __exit__(self, *exc) -> None:
        self.release()
