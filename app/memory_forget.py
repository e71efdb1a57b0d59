"""Exact unlearning: what must go when a memory's text leaves the approved set.

An adapter's weights encode every memory it was trained on, so an adapter trained on a deleted,
edited or rejected memory is marked tainted (never loaded again) and its files are deleted. The
nightly job then retrains from scratch on the approved memories that remain.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import sqlite_utils

from app.memory_relevance import distinctive_words, mentions
from ondevice.adapters import version_dir


def content_sha256(text: str) -> str:
    """The hash adapter_memories records for the text an adapter was trained on."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def taint_adapters(db: sqlite_utils.Database, memory_ids: list[int], why: str) -> tuple[list[str], str | None]:
    """Mark every adapter trained on any of `memory_ids` as tainted (inside the caller's transaction).

    Args:
        db: the database, in an open transaction.
        memory_ids: memories that were deleted, edited or rejected.
        why: the past participle for the reason shown in the adapter list ("deleted", "edited").

    Returns:
        (the versions newly marked tainted, the base-model sha256 of the active one among them
        or None): the caller falls back to a clean adapter for that base.
    """
    if not memory_ids:
        return [], None
    marks = ",".join("?" * len(memory_ids))
    rows = db.execute(
        f"SELECT a.version, a.metrics, min(am.memory_id), a.status, a.base_sha256 FROM adapters a JOIN adapter_memories am "
        f"ON am.adapter_version = a.version WHERE am.memory_id IN ({marks}) "
        "AND a.status != 'tainted' GROUP BY a.version ORDER BY a.version",
        memory_ids,
    ).fetchall()
    active_base = None
    for version, metrics, memory_id, status, base_sha256 in rows:
        if status == "active":
            active_base = base_sha256
        data = json.loads(metrics or "{}")
        data["status_reason"] = f"memory {memory_id} it learned was {why}"
        db.execute("UPDATE adapters SET status = 'tainted', metrics = ? WHERE version = ?",
                   [json.dumps(data), version])
    if why == "deleted":
        # The hash of deleted text is itself a trace of it; the taint no longer needs it.
        db.execute(f"UPDATE adapter_memories SET content_sha256 = NULL WHERE memory_id IN ({marks})",
                   memory_ids)
    return [row[0] for row in rows], active_base


def delete_conversation_rows(db: sqlite_utils.Database, conversation_id: int) -> None:
    """Delete a conversation and its messages (inside the caller's transaction)."""
    db.execute("DELETE FROM message_memories WHERE message_id IN "
               "(SELECT id FROM messages WHERE conversation_id = ?)", [conversation_id])
    db.execute("UPDATE memories SET source_message_id = NULL, source_conversation_id = NULL "
               "WHERE source_conversation_id = ?", [conversation_id])
    db.execute("DELETE FROM messages WHERE conversation_id = ?", [conversation_id])
    db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])


# Why a conversation is listed when its memory is deleted, as the CLI and the app say it.
MENTION_REASONS = {"source": "it came from there", "used": "an answer used it", "mentions": "it is mentioned"}


def conversations_mentioning(store, memory_id: int, text: str, source_id: int | None) -> list[dict]:
    """The conversations a memory's deletion concerns, each {"id", "title", "why"}, by id.

    why: "source" (it came from there), "used" (a turn used it: app.memory_relevance), or
    "mentions" (a message contains most of its distinctive words).
    """
    why: dict[int, str] = {}
    if source_id is not None:
        why[source_id] = "source"
    for row in store.query("SELECT DISTINCT m.conversation_id FROM message_memories mm JOIN messages m "
                           "ON m.id = mm.message_id WHERE mm.memory_id = ?", (memory_id,)):
        why.setdefault(row["conversation_id"], "used")
    key = distinctive_words(text)
    if key:  # FTS narrows the candidates; `mentions` decides
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in sorted(key))
        for row in store.query("SELECT m.conversation_id, m.content FROM messages_fts JOIN messages m "
                               "ON m.id = messages_fts.rowid WHERE messages_fts MATCH ?", (match,)):
            if row["conversation_id"] not in why and mentions(text, row["content"] or ""):
                why[row["conversation_id"]] = "mentions"
    titles = {r["id"]: r["title"] for r in store.query("SELECT id, title FROM conversations")}
    return [{"id": c, "title": titles[c], "why": why[c]} for c in sorted(why) if c in titles]


def remove_tainted_files(store, home: Path) -> list[str]:
    """Delete the files of every tainted adapter (their weights encode forgotten memories).

    Runs after the transaction commits; a crash before it is repaired by the next call, since
    it sweeps every tainted adapter whose files are still there.

    Returns:
        Versions whose files were removed now.
    """
    removed = []
    for row in store.query("SELECT version FROM adapters WHERE status = 'tainted'"):
        # The folder comes from the version inside this data folder, never from the stored
        # path: a copied folder's rows must not reach the original's files.
        folder = version_dir(home, row["version"])
        if folder is not None and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(row["version"])
    return removed


def fall_back_to_clean_adapter(store, home: Path, base_sha256: str | None) -> None:
    """With the active adapter tainted, make the newest clean one for the same base active."""
    if base_sha256 is None:
        return
    try:
        from ondevice.adapters import AdapterRegistry
    except ImportError:  # a build without learning has no adapters to fall back to
        return
    AdapterRegistry(store, home).loadable(base_sha256)
