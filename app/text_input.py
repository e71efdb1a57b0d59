"""Checks on text the user types or pastes, shared by chat and memories."""

from __future__ import annotations

import re

from app.errors import InputError

# C0 and C1 control characters and DEL, except tab and newline: a terminal obeys them (colours,
# cursor moves, clearing the screen), so they are never stored and never printed raw.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """`text` without control characters (carriage returns become newlines)."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def escape_controls(text: str) -> str:
    """`text` safe to print on a terminal: control characters other than tab and newline
    are shown as escapes (\\x1b), for text stored before they were stripped on input."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def clean_user_text(text: str | bytes, what: str = "message", max_chars: int | None = None) -> str:
    """Return `text` without control characters or surrounding space, or raise InputError
    saying exactly what is wrong with it.

    Args:
        text: str, or bytes that must be UTF-8.
        what: the noun used in the error ("message", "memory").
        max_chars: refuse longer text (None: no limit here).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"The {what} is not valid UTF-8 text (bad byte at position {exc.start}): save it "
                "as UTF-8 and try again."
            ) from exc
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Lone surrogates arrive from argv or files decoded with surrogateescape.
        raise InputError(
            f"The {what} contains bytes that are not valid UTF-8 (at position {exc.start}): "
            "save it as UTF-8 and try again."
        ) from exc
    if "\x00" in text:
        raise InputError(f"The {what} contains a NUL character: remove it and try again.")
    text = strip_controls(text).strip()
    if not text:
        raise InputError(f"The {what} is empty: type some text.")
    if max_chars is not None and len(text) > max_chars:
        raise InputError(
            f"The {what} is {len(text):,} characters long, over the {max_chars:,} allowed: "
            "shorten it."
        )
    return text
