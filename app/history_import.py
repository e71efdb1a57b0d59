"""`nocturne history import`: bring in the chats a person already had in other apps.

Imported conversations keep their titles and dates and are marked with where they came from;
a second import of the same export adds nothing. What the user said about themselves in them is
proposed as pending memories, which wait for review like any other proposal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.chat_exports import FORMAT_NAMES, ImportedConversation, open_export, read_export
from app.store import now_iso

BATCH = 50  # conversations per transaction: fast, and a kill loses at most one batch
MAX_TITLE_CHARS = 200


@dataclass
class ImportResult:
    source: str | None  # the export's app (FORMATS), None for an empty export
    conversations: int  # imported now
    messages: int
    already_imported: int  # skipped: the same conversation came in before
    empty: int  # skipped: no message with text
    proposed_memories: int

    def summary(self) -> str:
        """One sentence for the user."""
        if self.source is None:
            return "The export holds no conversations: nothing was imported."
        parts = [f"Imported {self.conversations} conversations ({self.messages} messages) from "
                 f"{FORMAT_NAMES[self.source]}"]
        if self.already_imported:
            parts.append(f"{self.already_imported} were already here")
        if self.empty:
            parts.append(f"{self.empty} had no text")
        sentence = "; ".join(parts) + "."
        if self.proposed_memories:
            sentence += (f" {self.proposed_memories} memories are proposed from them: review them "
                         "with `nocturne memories list --status pending`.")
        return sentence


def import_history(app, path: Path, on_progress: Callable[[int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> ImportResult:
    """Import every conversation of a chat export into the log.

    Args:
        app: the Nocturne context (its store and memories service).
        path: conversations.json or the export's .zip (ChatGPT, Claude, Open WebUI, Nocturne).
        on_progress: called with (bytes read, total bytes) after each batch.
        should_stop: polled between batches; what was imported until then stays.

    Returns:
        What was imported and skipped.

    Raises:
        InputError: a file that is missing, damaged or not a known export (one sentence).
    """
    result = ImportResult(None, 0, 0, 0, 0, 0)
    batch: list[ImportedConversation] = []
    with open_export(Path(path)) as (stream, total):
        for source, conversation in read_export(stream, Path(path).name):
            result.source = source
            batch.append(conversation)
            if len(batch) >= BATCH:
                _store_batch(app, batch, result)
                batch = []
                if on_progress:
                    on_progress(stream.tell(), total)
                if should_stop and should_stop():
                    break
        else:
            _store_batch(app, batch, result)
            if on_progress:
                on_progress(total, total)
    return result


def _store_batch(app, batch: list[ImportedConversation], result: ImportResult) -> None:
    """Write the new conversations of a batch in one transaction, then propose memories from
    them (batch by batch, so a huge export never sits in memory)."""
    ids = []
    with app.store.transaction() as db:
        for conversation in batch:
            if not conversation.messages:
                result.empty += 1
                continue
            if _already_imported(db, conversation):
                result.already_imported += 1
                continue
            ids.append(_insert(db, conversation))
            result.conversations += 1
            result.messages += len(conversation.messages)
    if ids:
        result.proposed_memories += len(app.memories().propose(conversation_ids=ids))


def _already_imported(db, conversation: ImportedConversation) -> bool:
    if db.execute("SELECT 1 FROM conversations WHERE source = ? AND source_id = ?",
                  [conversation.source, conversation.source_id]).fetchone():
        return True
    if conversation.source != "nocturne":
        return False
    # A Nocturne export brought back into the data folder it came from.
    first = conversation.messages[0]
    return db.execute(
        "SELECT 1 FROM conversations c JOIN messages m ON m.conversation_id = c.id "
        "WHERE c.source IS NULL AND c.created_at = ? AND m.content = ? LIMIT 1",
        [conversation.created_at, first.content]).fetchone() is not None


def _insert(db, conversation: ImportedConversation) -> int:
    """Plain SQL, not sqlite-utils' insert: it inspects the table on every call, 5x slower here."""
    fallback = conversation.created_at or now_iso()
    title = " ".join(conversation.title.split())[:MAX_TITLE_CHARS]
    if not title:
        title = " ".join(conversation.messages[0].content.split())[:60]
    updated = conversation.updated_at or conversation.messages[-1].created_at or fallback
    conversation_id = db.execute(
        "INSERT INTO conversations (title, created_at, updated_at, source, source_id) "
        "VALUES (?, ?, ?, ?, ?)",
        [title or "Imported chat", fallback, updated, conversation.source, conversation.source_id],
    ).lastrowid
    model = f"{FORMAT_NAMES[conversation.source]} (imported)"
    db.conn.executemany(
        "INSERT INTO messages (conversation_id, role, content, status, created_at, model) "
        "VALUES (?, ?, ?, 'complete', ?, ?)",
        [(conversation_id, m.role, m.content, m.created_at or fallback,
          model if m.role == "assistant" else None) for m in conversation.messages])
    return conversation_id
