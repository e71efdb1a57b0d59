"""Imports the UI thread must never wait for, done on a background thread as the window starts.

A module imported for the first time on the UI thread, or on a worker while the UI thread waits
for the GIL, froze the window in the middle of something (bench/ui_latency.py): the first
highlighted code block of a session imported Pygments (73 ms for Python's lexer, 384 ms when the
language had to be guessed, which loads every lexer), and the first download imported
huggingface_hub and its HTTP client (about 130 ms, up to 72 ms of it without the GIL free).
"""

from __future__ import annotations

import threading


def _warm() -> None:
    from huggingface_hub import get_hf_file_metadata  # noqa: F401  (no network: an import)
    from huggingface_hub.file_download import http_get  # noqa: F401
    from pygments.lexers import guess_lexer

    from ui.style import LIGHT
    from ui.views.code_block import highlight_html

    highlight_html("x = 1", "python", LIGHT)
    guess_lexer("x = 1")


def warm_imports() -> threading.Thread:
    """Start importing them; the thread is returned for tests to wait on."""
    thread = threading.Thread(target=_warm, name="warm-imports", daemon=True)
    thread.start()
    return thread
