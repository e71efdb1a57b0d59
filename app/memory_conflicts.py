"""Memories that contradict each other: the newer wins in training, the older waits for review.

"I live in Lyon", later "I moved to Oslo": both approved, the model cannot learn both. Each
memory is read for one *slot* (where the user lives, what they work as, what a relation is
called, a favourite, their age, the car they drive) with a plain rule per slot; two memories
filling the same slot with different values conflict, and the newer one (higher id: memories are
added in order) supersedes the older. Nothing is deleted: the older one is only left out of
training and shown as "superseded" in the memories list until the user edits or deletes it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.I)
_SENTENCE_END = re.compile(r"[.!]+$")
# (slot, pattern): the value is the pattern's last group; a slot with {0} takes the first group.
_SLOTS: list[tuple[str, re.Pattern]] = [
    ("where I live", re.compile(r"i (?:live|am living|'m living|now live) in ([^,]+?)(?: now| these days)?", re.I)),
    ("where I live", re.compile(r"i (?:have )?moved to ([^,]+?)(?: in \d{4}| last \w+| recently)?", re.I)),
    ("what I work as", re.compile(r"i (?:work as|am working as|'m working as) (.+)", re.I)),
    ("where I work", re.compile(r"i (?:work|am working|'m working) (?:at|for) (.+)", re.I)),
    ("my age", re.compile(r"i(?: am|'m) (\d+)(?: years old)?", re.I)),
    ("the car I drive", re.compile(r"i (?:drive|now drive) (.+)", re.I)),
    ("my {0}", re.compile(r"my (favourite \w+(?: \w+)?) is (.+)", re.I)),
    ("my {0}'s name", re.compile(r"my ([a-z' -]+?)(?:'s name is| is called| is named) (.+)", re.I)),
]


@dataclass(frozen=True)
class Conflict:
    """An older memory superseded by a newer one about the same slot."""

    older_id: int
    newer_id: int
    slot: str  # "where I live"
    older_value: str
    newer_value: str

    def explain(self) -> str:
        return (f"memory {self.older_id} says {self.slot} is {self.older_value!r}, the newer memory "
                f"{self.newer_id} says {self.newer_value!r}: the newer one is learned, review the older")


def slot_of(text: str) -> tuple[str, str] | None:
    """(slot, value) a memory fills, or None when it fits no slot rule."""
    core = _SENTENCE_END.sub("", " ".join(text.split()))
    for slot, pattern in _SLOTS:
        match = pattern.fullmatch(core)
        if match:
            name = slot.format(*(g.lower() for g in match.groups()[:-1]))
            return name, match.groups()[-1].strip()
    return None


def _same(a: str, b: str) -> bool:
    def norm(value: str) -> str:
        value = _ARTICLE.sub("", value.strip().lower())
        return "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))

    return norm(a) == norm(b)


def find_conflicts(memories: list[tuple[int, str]]) -> list[Conflict]:
    """Every memory superseded by a newer one about the same slot (newest wins).

    Args:
        memories: (id, text) of approved memories; a higher id is newer.

    Returns:
        One Conflict per superseded memory, oldest first.
    """
    newest: dict[str, tuple[int, str]] = {}
    for memory_id, text in sorted(memories, reverse=True):  # newest first
        found = slot_of(text)
        if found:
            newest.setdefault(found[0], (memory_id, found[1]))
    conflicts = []
    for memory_id, text in sorted(memories):
        found = slot_of(text)
        if not found:
            continue
        winner_id, winner_value = newest[found[0]]
        if winner_id != memory_id and not _same(found[1], winner_value):
            conflicts.append(Conflict(memory_id, winner_id, found[0], found[1], winner_value))
    return conflicts


def without_superseded(memories: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], list[Conflict]]:
    """The memories to train (superseded ones left out) and the conflicts found."""
    conflicts = find_conflicts(memories)
    superseded = {c.older_id for c in conflicts}
    return [m for m in memories if m[0] not in superseded], conflicts


def superseded_memories(store) -> dict[int, Conflict]:
    """Approved memories a newer approved memory supersedes, by id (for the memories list)."""
    rows = store.query("SELECT id, text FROM memories WHERE status = 'approved'")
    return {c.older_id: c for c in find_conflicts([(row["id"], row["text"]) for row in rows])}
