"""Reviewing memories at the scale an import brings: filters, and approving or rejecting many.

A filter picks memories by status, where they came from (an import from another app, a chat
here, or added by hand), kind, source conversation and words. A bulk action changes the status
of many memories in one transaction: all of them or, when an id is wrong, none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from app.chat_exports import FORMAT_NAMES, FORMATS
from app.errors import NotFoundError
from app.memory_forget import taint_adapters
from app.store import now_iso

# Where a memory came from, as a filter: each import format, any import, a chat here, by hand.
SOURCES = (*FORMATS, "imported", "chat", "hand")
SOURCE_LABELS = {**{name: f"Imported from {label}" for name, label in FORMAT_NAMES.items()},
                 "imported": "Imported from any app", "chat": "From your chats here",
                 "hand": "Added by you"}
TAINT_CHUNK = 500  # memory ids per taint query: well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class MemoryFilter:
    """Which memories to show or act on; None (or empty) means any."""

    status: str | None = None  # pending | approved | rejected
    source: str | None = None  # one of SOURCES
    kind: str | None = None  # fact | preference | style | correction
    conversation_id: int | None = None  # the conversation a memory came from
    query: str | None = None  # every one of these words, case-insensitive

    def is_narrowed(self) -> bool:
        return any(value not in (None, "") for value in
                   (self.status, self.source, self.kind, self.conversation_id, self.query))


# SQL for each source filter, over memories m LEFT JOIN conversations c on its source conversation.
_SOURCE_SQL = {**{name: ("c.source = ?", [name]) for name in FORMATS},
               "imported": ("c.source IS NOT NULL", []),
               "chat": ("m.source_conversation_id IS NOT NULL AND c.source IS NULL", []),
               "hand": ("m.source_conversation_id IS NULL", [])}
SELECT = ("SELECT m.*, c.source AS conversation_source FROM memories m "
          "LEFT JOIN conversations c ON c.id = m.source_conversation_id")


def filter_sql(chosen: MemoryFilter) -> tuple[str, list]:
    """The query for `chosen`, newest first (values are assumed validated by the caller)."""
    sql, params = SELECT + " WHERE 1=1", []
    if chosen.status:
        sql += " AND m.status = ?"
        params.append(chosen.status)
    if chosen.source:
        clause, values = _SOURCE_SQL[chosen.source]
        sql += f" AND {clause}"
        params += values
    if chosen.kind:
        sql += " AND m.kind = ?"
        params.append(chosen.kind)
    if chosen.conversation_id is not None:
        sql += " AND m.source_conversation_id = ?"
        params.append(chosen.conversation_id)
    for word in dict.fromkeys((chosen.query or "").split()):
        sql += " AND m.text LIKE ? ESCAPE '\\'"
        params.append("%" + re.sub(r"([%_\\])", r"\\\1", word) + "%")
    return sql + " ORDER BY m.id DESC", params


def conversations_with_memories(store) -> list[dict]:
    """Conversations some memory came from, newest first: {"id", "title", "source", "memories"}."""
    return store.query(
        "SELECT c.id, c.title, c.source, count(*) AS memories FROM memories m "
        "JOIN conversations c ON c.id = m.source_conversation_id GROUP BY c.id ORDER BY c.id DESC")


@dataclass
class ReviewResult:
    """What one bulk approve or reject did."""

    status: str  # the status the memories were given: approved | rejected
    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # they had that status already
    tainted_adapters: list[str] = field(default_factory=list)  # trained on a rejected memory

    def summary(self) -> str:
        """One sentence for the user."""
        if not self.changed and not self.unchanged:
            return "No memory matches: nothing was changed."
        count = len(self.changed)
        if not count:
            return f"Nothing changed: {'it was' if len(self.unchanged) == 1 else 'they were'} already {self.status}."
        sentence = f"{self.status.capitalize()} {count} {_memories(count)}"
        if self.unchanged:
            sentence += f" ({len(self.unchanged)} already {self.status})"
        if self.tainted_adapters:
            sentence += ("; adapters that had learned them were discarded: "
                         + ", ".join(self.tainted_adapters))
        return sentence + "."


def _memories(count: int) -> str:
    return "memory" if count == 1 else "memories"


def set_statuses(db, memory_ids: list[int], status: str) -> tuple[ReviewResult, str | None]:
    """Give every memory of `memory_ids` this status, inside the caller's transaction.

    Rejecting taints every adapter trained on a rejected memory, as a single rejection does.

    Returns:
        (what changed, the base-model sha256 of the active adapter if it was tainted, else None).

    Raises:
        NotFoundError: some id is not a memory (the caller's transaction rolls back: nothing
            is changed).
    """
    ids = list(dict.fromkeys(memory_ids))
    found = dict(db.execute("SELECT id, status FROM memories WHERE id IN (SELECT value FROM "
                            "json_each(?))", [json.dumps(ids)]).fetchall())
    missing = [i for i in ids if i not in found]
    if missing:
        listed = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise NotFoundError(f"There is no memory {listed}: nothing was changed "
                            "(`nocturne memories list` shows them).")
    result = ReviewResult(status)
    result.changed = [i for i in ids if found[i] != status]
    result.unchanged = [i for i in ids if found[i] == status]
    db.execute("UPDATE memories SET status = ?, updated_at = ? WHERE id IN "
               "(SELECT value FROM json_each(?))", [status, now_iso(), json.dumps(result.changed)])
    active_base = None
    if status == "rejected":  # adapters trained on a memory the user now rejects must not keep it
        for start in range(0, len(result.changed), TAINT_CHUNK):
            versions, base = taint_adapters(db, result.changed[start:start + TAINT_CHUNK], "rejected")
            result.tainted_adapters += versions
            active_base = active_base or base
    return result, active_base
