"""Where Nocturne keeps its data: one private folder per user.

The folder comes from platformdirs and is overridden by NOCTURNE_HOME (tests and `--home` use it).
It is created owner-only (0700); the database inside is 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

from app.errors import DataDirError

HOME_ENV = "NOCTURNE_HOME"
DB_NAME = "nocturne.db"


def data_dir() -> Path:
    """The data folder: $NOCTURNE_HOME if set, else the platform's user data dir."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(platformdirs.user_data_dir("Nocturne", appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make it owner-only.

    Raises DataDirError with the fix when the folder cannot be created or written.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(path.stat().st_mode) != 0o700:
            path.chmod(0o700)
    except OSError as exc:
        raise DataDirError(
            f"Cannot create the data folder {path} ({exc.strerror}): choose a writable folder "
            f"with --home or {HOME_ENV}."
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(
            f"The data folder {path} is read-only: make it writable or choose another with "
            f"--home or {HOME_ENV}."
        )
    return path


def subdir(home: Path, *parts: str) -> Path:
    """A private folder inside the data folder (adapters, cache, runs, backups)."""
    return ensure_private_dir(home.joinpath(*parts))
