"""Numbered schema migrations. Each one runs once, in order, inside a transaction.

Never edit a migration that has shipped: add a new one. The store copies the database file
before applying pending migrations to an existing database.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]


def m001_chat_log(db: sqlite_utils.Database) -> None:
    """Why: every turn is logged privately with what produced it (model, adapter, timings)."""
    db["conversations"].create(
        {"id": int, "title": str, "created_at": str, "updated_at": str}, pk="id"
    )
    db["messages"].create(
        {
            "id": int,
            "conversation_id": int,
            "role": str,  # user | assistant
            "content": str,
            "status": str,  # complete | cancelled | error
            "error": str,
            "created_at": str,
            "model": str,
            "adapter_version": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "ttft_ms": float,
            "duration_ms": float,
            "tokens_per_s": float,
            "rating": int,  # -1 thumbs down, 1 thumbs up, NULL none
            "correction": str,  # the user's corrected answer: training signal
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
        defaults={"status": "complete"},
    )
    db["messages"].create_index(["conversation_id"])
    db["messages"].enable_fts(["content"], create_triggers=True, tokenize="porter")
    db["settings"].create({"key": str, "value": str}, pk="key")


def m002_memories(db: sqlite_utils.Database) -> None:
    """Why: what the assistant learns about the user is a reviewable, deletable list."""
    db["memories"].create(
        {
            "id": int,
            "text": str,
            "kind": str,  # fact | preference | style | correction
            "status": str,  # pending | approved | rejected
            "source_message_id": int,
            "source_conversation_id": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[
            ("source_message_id", "messages", "id"),
            ("source_conversation_id", "conversations", "id"),
        ],
    )
    db["memories"].create_index(["status"])
    db["memories"].enable_fts(["text"], create_triggers=True, tokenize="porter")
    # Which memories went into the prompt of which answer, so deleting a memory can offer to
    # delete the conversations that used it too.
    db["message_memories"].create(
        {"message_id": int, "memory_id": int}, pk=("message_id", "memory_id")
    )
    db["message_memories"].create_index(["memory_id"])


def m003_learning(db: sqlite_utils.Database) -> None:
    """Why: adapters are versioned, auditable artifacts and every nightly run is recorded."""
    db["adapters"].create(
        {
            "version": str,
            "path": str,
            "base_sha256": str,
            "trainer": str,
            "status": str,  # candidate | active | retired | tainted | rejected
            "args": str,  # JSON
            "metrics": str,  # JSON
            "created_at": str,
            "run_id": int,
        },
        pk="version",
    )
    db["adapter_memories"].create(
        {"adapter_version": str, "memory_id": int, "content_sha256": str, "recalled": int},
        pk=("adapter_version", "memory_id"),
    )
    db["adapter_memories"].create_index(["memory_id"])
    db["training_runs"].create(
        {
            "id": int,
            "trigger": str,  # manual | scheduled | catch-up
            "started_at": str,
            "ended_at": str,
            "status": str,  # running | succeeded | rejected | failed | cancelled | interrupted
            "pid": int,
            "trainer": str,
            "progress": str,  # JSON of the last progress event
            "log": str,
            "metrics": str,  # JSON: recall, drift, timings, the morning report
            "adapter_version": str,
        },
        pk="id",
    )


def m004_relative_adapter_paths(db: sqlite_utils.Database) -> None:
    """Why: absolute adapter paths made a copied data folder delete the original's files and a
    moved one lose its adapters. Paths become relative to the data folder.

    Only a path of the shape the registry always wrote (.../adapters/<version>/adapter.gguf) is
    rewritten; anything else is left as it is and never loaded (it is outside the data folder).
    """
    if not db["adapters"].exists():
        return
    for version, path in db.execute("SELECT version, path FROM adapters").fetchall():
        parts = PurePath(path or "").parts
        if len(parts) >= 3 and tuple(parts[-3:]) == ("adapters", version, "adapter.gguf"):
            db.execute("UPDATE adapters SET path = ? WHERE version = ?",
                       [f"adapters/{version}/adapter.gguf", version])


def m005_imported_conversations(db: sqlite_utils.Database) -> None:
    """Why: chats imported from other apps keep where they came from, so they are shown as
    imported and a second import of the same export adds nothing."""
    db["conversations"].add_column("source", str)  # NULL: written here; else chatgpt, claude, ...
    db["conversations"].add_column("source_id", str)  # the conversation's id in that export
    db["conversations"].create_index(["source", "source_id"], unique=True)


MIGRATIONS: list[tuple[int, Migration]] = [
    (1, m001_chat_log),
    (2, m002_memories),
    (3, m003_learning),
    (4, m004_relative_adapter_paths),
    (5, m005_imported_conversations),
]
