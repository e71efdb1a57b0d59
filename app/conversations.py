"""The chat log: conversations and their messages in the store (list, show, search, delete)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.errors import InputError, NotFoundError
from app.store import Store, now_iso

TITLE_CHARS = 60
ELLIPSIS = "…"


def short_title(text: str, limit: int = TITLE_CHARS) -> str:
    """A conversation title from its first message: whole words only, "…" when cut.

    A word longer than the whole limit (a URL, a path) is the one case cut mid-word.
    """
    words = " ".join(text.split())
    if len(words) <= limit:
        return words
    head = words[: limit - len(ELLIPSIS) + 1]  # +1: a space right after the cut keeps the word
    cut = head.rfind(" ")
    head = head[:cut] if cut > 0 else head[: limit - len(ELLIPSIS)]
    return head.rstrip(" ,;:.-–—") + ELLIPSIS


def title_from(text: str) -> str:
    """A new conversation's title: its first message, on one line, cut at a word."""
    return short_title(text) or "New chat"


MAX_SEARCH_WORDS = 32  # a pasted page as a query would make SQLite match for minutes


def check_search_size(words: list[str]) -> None:
    """Refuse, in one sentence, a search of more distinct words than anyone types."""
    if len(words) > MAX_SEARCH_WORDS:
        raise InputError(f"The search has {len(words):,} different words: search with at most "
                         f"{MAX_SEARCH_WORDS}.")


@dataclass
class Conversation:
    """A chat in progress. `id` is None until its first turn is logged (never, if temporary)."""

    id: int | None = None
    title: str = ""
    temporary: bool = False
    messages: list[dict] = field(default_factory=list)  # {"role", "content"} for the prompt


class ConversationLog:
    """Reads and writes conversations and messages."""

    def __init__(self, store: Store):
        self.store = store

    # -- writing ------------------------------------------------------------------------------

    def create(self, title: str) -> int:
        stamp = now_iso()
        title = title_from(title)
        with self.store.transaction() as db:
            return db["conversations"].insert(
                {"title": title, "created_at": stamp, "updated_at": stamp}
            ).last_pk

    def add_message(self, conversation_id: int, role: str, content: str, **fields) -> int:
        stamp = now_iso()
        row = {"conversation_id": conversation_id, "role": role, "content": content,
               "created_at": stamp, **fields}
        with self.store.transaction() as db:
            message_id = db["messages"].insert(row).last_pk
            db["conversations"].update(conversation_id, {"updated_at": stamp})
        return message_id

    def rename(self, conversation_id: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise InputError("The title is empty: type a name for the conversation.")
        self.get(conversation_id)
        with self.store.transaction() as db:
            db["conversations"].update(conversation_id, {"title": title[:200]})

    def rate(self, message_id: int, rating: int | None) -> None:
        """Thumbs up (1), down (-1) or none (None) on an assistant message: training signal."""
        if rating not in (1, -1, None):
            raise InputError("A rating is 1 (thumbs up), -1 (thumbs down) or none.")
        self._assistant_message(message_id)
        with self.store.transaction() as db:
            db["messages"].update(message_id, {"rating": rating})

    def correct(self, message_id: int, correction: str) -> None:
        """Store the user's corrected answer on an assistant message: training signal."""
        self._assistant_message(message_id)
        with self.store.transaction() as db:
            db["messages"].update(message_id, {"correction": correction or None})

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation and its messages for good (secure_delete, FTS purged)."""
        self.get(conversation_id)
        with self.store.transaction() as db:
            db.execute(
                "DELETE FROM message_memories WHERE message_id IN "
                "(SELECT id FROM messages WHERE conversation_id = ?)", [conversation_id])
            # Memories keep existing (the user decides separately), but lose the dangling link.
            db.execute("UPDATE memories SET source_message_id = NULL, source_conversation_id = NULL "
                       "WHERE source_conversation_id = ?", [conversation_id])
            db.execute("DELETE FROM messages WHERE conversation_id = ?", [conversation_id])
            db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])
        self.store.purge_freed_text()

    # -- reading ------------------------------------------------------------------------------

    def get(self, conversation_id: int) -> dict:
        row = self.store.query_one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise NotFoundError(
                f"There is no conversation {conversation_id}: `nocturne history list` shows them."
            )
        return row

    def message(self, message_id: int) -> dict:
        row = self.store.query_one("SELECT * FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise NotFoundError(f"There is no message {message_id}: it may have been deleted.")
        return row

    def list(self, limit: int = 200) -> list[dict]:
        return self.store.query(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) "
            "AS message_count FROM conversations c ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
            (limit,),
        )

    def messages(self, conversation_id: int) -> list[dict]:
        return self.store.query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        )

    def load(self, conversation_id: int) -> Conversation:
        """A logged conversation, ready to continue."""
        row = self.get(conversation_id)
        history = [
            {"role": m["role"], "content": m["content"]}
            for m in self.messages(conversation_id)
            if m["content"] and m["status"] != "error"
        ]
        return Conversation(id=row["id"], title=row["title"], messages=history)

    def search(self, query: str, limit: int = 50) -> list[dict]:
        """Messages matching `query` (FTS5, best first), with their conversation's title."""
        words = list(dict.fromkeys(w for w in query.split() if w))
        if not words:
            raise InputError("The search is empty: type a word to look for.")
        check_search_size(words)
        # Quote each word so punctuation in the query is never FTS syntax.
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        return self.store.query(
            "SELECT m.*, c.title AS conversation_title, "
            "snippet(messages_fts, 0, '[', ']', '…', 12) AS snippet "
            "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "JOIN conversations c ON c.id = m.conversation_id "
            "WHERE messages_fts MATCH ? ORDER BY bm25(messages_fts) LIMIT ?",
            (match, limit),
        )

    def _assistant_message(self, message_id: int) -> dict:
        row = self.store.query_one("SELECT * FROM messages WHERE id = ?", (message_id,))
        if row is None or row["role"] != "assistant":
            raise NotFoundError(f"There is no assistant message {message_id}.")
        return row
