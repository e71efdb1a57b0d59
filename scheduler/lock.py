"""A run lock that a dead process cannot hold: an OS file lock (filelock) in the data dir.

The OS drops the lock when its holder exits, however it exits (kill -9 included), so a crashed
run never blocks the next night. filelock uses flock on Linux and macOS and msvcrt's locking on
Windows. The holder's pid goes in a file beside the lock, for status output (the lock file
itself belongs to filelock).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from filelock import Timeout

from app.os_lock import os_file_lock


class RunLockHeld(Exception):
    """Another learning run holds the lock."""


class RunLock:
    """Usage: `with RunLock(home / "learning.lock"): ...` (raises RunLockHeld if taken)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.pid_path = self.path.with_name(self.path.name + ".pid")
        self._lock = os_file_lock(self.path)

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live process holds it."""
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        fd = os.open(self.pid_path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self.pid_path.unlink()
            self._lock.release(force=True)

    def holder(self) -> int | None:
        """Pid of the live holder, or None when the lock is free."""
        probe = os_file_lock(self.path)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            pass
        else:
            probe.release()
            return None
        try:
            return int(self.pid_path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def __enter__(self) -> "RunLock":
        if not self.acquire():
            raise RunLockHeld(f"Another learning run (pid {self.holder()}) is already running.")
        return self

    def __exit__(self, *exc) -> None:
        self.release()
