"""User settings, stored in the database's settings table as JSON values.

Every setting has a default and a validator here, so the CLI, the desktop app and the nightly
job agree on what a setting means.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from app.errors import InputError
from app.model_check import model_file_problem
from app.store import Store
from ondevice.chat_templates import check_setting as check_template_setting
from ondevice.chat_templates import setting_help as template_help


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "on", "yes"):
        return True
    if text in ("0", "false", "off", "no"):
        return False
    raise ValueError("use on or off")


def _time(value: Any) -> str:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
    if not match:
        raise ValueError("use HH:MM, 24-hour, e.g. 03:00")
    return f"{int(match[1]):02d}:{match[2]}"


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"use a whole number from {low} to {high}")
        return number

    return check


def _optional_int(low: int, high: int) -> Callable[[Any], int | None]:
    inner = _int_range(low, high)
    return lambda value: None if value in (None, "", "auto") else inner(value)


def _model_path(value: Any) -> str | None:
    """A readable GGUF model file (not an adapter), stored absolute; empty means bundled."""
    if value in (None, "", "default", "bundled"):
        return None
    path = Path(str(value)).expanduser().absolute()
    problem = model_file_problem(path)
    if problem:
        raise ValueError(problem + "; choose a GGUF model file")
    return str(path)


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError("use one of " + ", ".join(options))
        return value

    return check


@dataclass(frozen=True)
class Setting:
    default: Any
    parse: Callable[[Any], Any]
    help: str


SETTINGS: dict[str, Setting] = {
    "learning_enabled": Setting(True, _bool, "nightly learning on or off"),
    "learning_time": Setting("03:00", _time, "local time the nightly job runs (HH:MM)"),
    "idle_minutes": Setting(30, _int_range(0, 24 * 60), "learn only after this long without a chat"),
    "learning_minutes": Setting(30, _int_range(1, 12 * 60),
                                "training time per night in minutes (the check of what was learned comes after)"),
    "trainer": Setting("auto", _choice("auto", "mlx", "llamacpp"), "which trainer learns"),
    "keep_adapters": Setting(5, _int_range(1, 100), "how many clean adapter versions to keep"),
    "logging_enabled": Setting(True, _bool, "log chats (off: nothing is written)"),
    "model_path": Setting(None, _model_path, "GGUF model file (empty: the bundled model)"),
    "chat_template": Setting(None, check_template_setting,
                             "chat template for chat and learning: auto (the model's own), " + template_help()),
    "threads": Setting(None, _optional_int(1, 256), "CPU threads (empty: automatic)"),
    "context_size": Setting(2048, _int_range(512, 32768), "context window in tokens"),
    "keep_running_in_tray": Setting(True, _bool, "closing the window keeps Nocturne in the tray"),
}


class Settings:
    """Typed access to the settings table."""

    def __init__(self, store: Store):
        self.store = store

    def get(self, key: str) -> Any:
        spec = self._spec(key)
        row = self.store.query_one("SELECT value FROM settings WHERE key = ?", (key,))
        return spec.default if row is None else json.loads(row["value"])

    def set(self, key: str, value: Any) -> Any:
        """Validate and store `value`; returns the stored (normalized) value."""
        spec = self._spec(key)
        try:
            parsed = spec.parse(value)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{value!r} is not a valid {key}: {exc}.") from exc
        with self.store.transaction() as db:
            db["settings"].upsert({"key": key, "value": json.dumps(parsed)}, pk="key")
        return parsed

    def all(self) -> dict[str, Any]:
        return {key: self.get(key) for key in SETTINGS}

    @staticmethod
    def _spec(key: str) -> Setting:
        if key not in SETTINGS:
            raise InputError(f"There is no setting {key!r}: the settings are " + ", ".join(SETTINGS) + ".")
        return SETTINGS[key]
