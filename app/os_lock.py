"""OS file locks (flock on Linux and macOS, msvcrt on Windows) through filelock."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock


def os_file_lock(path: Path) -> FileLock:
    """An owner-only lock on `path` that the OS frees when its holder dies, kill -9 included.

    Never filelock's "soft" fallback (a marker file), which a killed holder would leave behind.
    Not thread-local: a lock taken on one thread may be released on another.
    """
    return FileLock(path, mode=0o600, thread_local=False, fallback_to_soft=False)
