"""Small JSON files that keep what a night worked out about the base model, so the next night
does not pay for it again (replay answers, the quantization yardstick, general answers).

Each file holds one value under a key made from everything the value depends on; a file made for
other inputs, cut off, or unreadable counts as absent. Nothing in these files comes from the user.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import suppress
from pathlib import Path
from typing import Any


def cache_key(*inputs: Any) -> str:
    """A short digest of everything the cached value depends on (JSON-serialisable inputs)."""
    return hashlib.sha256(json.dumps(inputs, ensure_ascii=False).encode()).hexdigest()[:16]


def read(path: Path, key: str) -> Any | None:
    """The value kept in `path` for `key`; None when there is none for it."""
    try:
        kept = json.loads(Path(path).read_text(encoding="utf-8"))
        return kept["value"] if kept.get("key") == key else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # none yet, or cut off: worked out again and rewritten


def write(path: Path, key: str, value: Any) -> bool:
    """Keep `value` for `key` in `path`, whole or not at all. Returns whether it was kept.

    A full disk or an unwritable folder costs a later night the work again, never this one.
    """
    path = Path(path)
    partial = path.with_suffix(".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"key": key, "value": value}, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)
        return True
    except OSError:
        with suppress(OSError):
            partial.unlink()
        return False
