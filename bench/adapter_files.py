"""The adapter files a bench is given on its command line."""

from __future__ import annotations

from pathlib import Path


def missing_adapter_files(paths: list[Path]) -> str | None:
    """One sentence naming the given adapter files that do not exist, or None when all do."""
    missing = [str(path) for path in paths if not path.is_file()]
    return f"No such adapter file: {', '.join(missing)}." if missing else None
