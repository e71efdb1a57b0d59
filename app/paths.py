"""Where Nocturne keeps its data: one private folder per user.

The folder comes from platformdirs and is overridden by NOCTURNE_HOME (tests and `--home` use it).
Everything inside is owner-only: folders 0700, files 0600.
"""

from __future__ import annotations

import contextlib
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


PRIVATE_UMASK = 0o077


def private_umask() -> None:
    """Make every file and folder this process creates owner-only from now on.

    The data folder holds model paths, caches, adapters and logs written by many modules and
    libraries; a process umask covers them all, where a chmod at each creation would miss some.
    """
    os.umask(PRIVATE_UMASK)


def make_tree_private(root: Path) -> None:
    """chmod folders 0700 and files 0600 under `root` (data written by an older version).

    Symbolic links are left alone: their targets are not ours to change.
    """
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            with contextlib.suppress(OSError):
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode):
                    continue
                wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
                if stat.S_IMODE(info.st_mode) != wanted:
                    path.chmod(wanted)


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make it owner-only; sets the private umask.

    Raises DataDirError with the fix when the folder cannot be created or written.
    """
    private_umask()
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
