"""Pending memories proposed from what the user said in logged chats (rules, app.memory_capture).

Kept apart from app.memories (review, edit, delete) so proposing stays one concern.
"""

from __future__ import annotations

import json
from datetime import datetime

from app.errors import InputError
from app.memory_capture import KnownMemories, propose_memories
from app.secrets_filter import find_secret
from app.store import now_iso

MAX_MEMORY_CHARS = 500  # a memory is a sentence or two; longer text belongs in a conversation


def valid_since(since: str) -> str:
    try:
        return datetime.fromisoformat(since.strip()).isoformat()
    except ValueError as exc:
        raise InputError(f"{since!r} is not a date: use a date like 2025-01-31 (YYYY-MM-DD).") from exc


def propose(store, since: str | None = None, conversation_ids: list[int] | None = None) -> list[int]:
    """Add the user's statements about themselves (from logged chats) as pending memories.

    Args:
        store: the app's Store.
        since: only messages from this date or time on (ISO, e.g. 2025-01-31).
        conversation_ids: only these conversations (an import: their dates are old).

    Returns:
        The ids of the new pending memories (none that repeat a stored memory of any status).
    """
    sql = "SELECT * FROM messages WHERE role = 'user'"
    params: tuple = ()
    if since:
        sql += " AND created_at >= ?"
        params = (valid_since(since),)
    if conversation_ids is not None:
        sql += " AND conversation_id IN (SELECT value FROM json_each(?))"
        params += (json.dumps(conversation_ids),)
    return propose_from(store, store.query(sql + " ORDER BY id", params))


def propose_from(store, messages: list[dict]) -> list[int]:
    """Pending memories from these message rows, in one transaction.

    Proposing from the same rows twice adds nothing the second time: every candidate is
    checked against all stored memories, whatever their status.
    """
    known = KnownMemories(r["text"] for r in store.query("SELECT text FROM memories"))
    fresh = []
    for candidate in propose_memories(messages):
        text = candidate["text"]
        if text in known or len(text) > MAX_MEMORY_CHARS or find_secret(text) is not None:
            continue
        known.add(text)
        fresh.append(candidate)
    stamp = now_iso()
    with store.transaction() as db:
        return [db["memories"].insert({**c, "status": "pending", "created_at": stamp,
                                       "updated_at": stamp}).last_pk for c in fresh]
