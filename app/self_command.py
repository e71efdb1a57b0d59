"""How this Nocturne runs its own CLI again (the learning child, the OS agent, a re-exec).

From a source checkout or a pip install that is this Python with `-m app.cli.main`; inside a
frozen bundle (PyInstaller) `sys.executable` is the bundle's own `nocturne`, which takes no `-m`.
"""

from __future__ import annotations

import sys


def is_bundle() -> bool:
    """True when running from a self-contained bundle built by `make bundle`."""
    return bool(getattr(sys, "frozen", False))


def nocturne_argv() -> list[str]:
    """The argv prefix that runs `nocturne` with this same installation."""
    if is_bundle():
        return [sys.executable]
    return [sys.executable, "-m", "app.cli.main"]
