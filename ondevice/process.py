"""Process helpers shared by the run records and the caches."""

from __future__ import annotations

import psutil


def pid_alive(pid: int | None) -> bool:
    """True while `pid` is a running process (a killed child not yet reaped is a zombie: dead)."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.AccessDenied:
        return True  # it exists, we just may not inspect it
    except (psutil.NoSuchProcess, ValueError):
        return False
