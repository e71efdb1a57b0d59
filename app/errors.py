"""Errors the user sees: each message is one sentence naming the problem and the fix."""


class NocturneError(Exception):
    """A problem the user can act on; the CLI prints it and exits non-zero."""

    exit_code = 1


class DataDirError(NocturneError):
    """The data folder cannot be created, read or written."""


class StoreError(NocturneError):
    """The database is locked, full, read-only or damaged."""


class ModelError(NocturneError):
    """The model file is missing, unreadable or not a usable GGUF."""


class InputError(NocturneError):
    """Text the user gave cannot be used as it is (empty, too long, not UTF-8)."""


class NotFoundError(NocturneError):
    """An id the user named does not exist."""
