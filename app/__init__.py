"""Nocturne's core: paths and settings, the SQLite store, chat, memories and the CLI.

Never imports PySide6: everything the desktop app does is reachable from here, headless.
"""
