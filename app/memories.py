"""Memories: what Nocturne has learned about its user, reviewable, usable in context, deletable.

`MemoryService` is the one way in for the CLI, the desktop app, the chat service (as its
MemoryHooks) and the nightly job. Text parsing lives in app.memory_capture, prompt selection in
app.memory_context, secret detection in app.secrets_filter, unlearning in app.memory_forget.
"""

from __future__ import annotations


from typing import Callable, Collection

from app.errors import InputError, NotFoundError
from app import memory_proposals
from app.memory_capture import confirmation, explicit_request, kind_of, normalize, tidy
from app.memory_conflicts import superseded_memories
from app.conversations import check_search_size, title_from
from app.memory_context import memories_for_prompt
from app.memory_review import SOURCES, MemoryFilter, ReviewResult, filter_sql, set_statuses
from app.memory_forget import (content_sha256, conversations_mentioning, delete_conversation_rows,
                               fall_back_to_clean_adapter, remove_tainted_files, taint_adapters)
from app.memory_purge import needles_for, purge_files, purge_run_records
from app.secrets_filter import find_secret
from app.store import now_iso
from app.text_input import clean_user_text

KINDS = ("fact", "preference", "style", "correction")
STATUSES = ("pending", "approved", "rejected")
MAX_MEMORY_CHARS = memory_proposals.MAX_MEMORY_CHARS
SECRET_REMOVED = "[removed: it looked like a secret]"
REMEMBER_EXAMPLE = "e.g. “remember that my cat is called Miso”"


class DuplicateMemoryError(InputError):
    """The text says what an existing memory already says."""

    def __init__(self, existing: dict):
        self.existing = existing
        super().__init__(f"Memory {existing['id']} ({existing['status']}) already says that: "
                         f"edit or approve it instead of adding it again.")


class SecretRefusedError(InputError):
    """The text looks like a secret, which is never stored as a memory."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"This memory was not saved because {reason}: Nocturne never stores "
                         "secrets, so keep them in a password manager.")


class MemoryService:
    """Args: app: the app.context.Nocturne instance (store, log, home)."""

    def __init__(self, app):
        self.app = app
        self.store = app.store

    # -- reading ------------------------------------------------------------------------------

    def list(self, status: str | None = None, query: str | None = None, *, source: str | None = None,
             kind: str | None = None, conversation_id: int | None = None) -> list[dict]:
        """Memories, newest first, with `learned` (recalled by the active adapter), `superseded`
        and `conversation_source` (the import format of its conversation; None: here or by hand).

        Args:
            status: only this status (pending / approved / rejected).
            query: only memories containing every word of it (case-insensitive).
            source, kind, conversation_id: see app.memory_review.MemoryFilter.

        Raises:
            InputError: an unknown status, source or kind. NotFoundError: no such conversation.
        """
        sql, params = filter_sql(self.checked_filter(MemoryFilter(status, source, kind, conversation_id, query)))
        recalled = self.recalled_ids()
        # Contradicted by a newer memory: to review. Only approved memories are compared, so a
        # list of pending proposals (an import's hundreds) skips the comparison.
        superseded = superseded_memories(self.store) if status in (None, "approved") else {}
        rows = self.store.query(sql, tuple(params))
        return [{**row, "learned": row["id"] in recalled,
                 "superseded": superseded[row["id"]].explain() if row["id"] in superseded else None}
                for row in rows]

    def matching_ids(self, chosen: MemoryFilter) -> list[int]:
        """The ids of the memories `chosen` picks, newest first (what a bulk action acts on)."""
        sql, params = filter_sql(self.checked_filter(chosen))
        return [row["id"] for row in self.store.query(sql, tuple(params))]

    def checked_filter(self, chosen: MemoryFilter) -> MemoryFilter:
        """`chosen` when every value in it exists; else one sentence (InputError/NotFoundError)."""
        for value, allowed, what in ((chosen.status, STATUSES, "status"), (chosen.kind, KINDS, "kind"),
                                     (chosen.source, SOURCES, "source")):
            if value:
                self._checked(value, allowed, what)
        check_search_size(list(dict.fromkeys((chosen.query or "").split())))
        if chosen.conversation_id is not None:
            self.app.log.get(chosen.conversation_id)
        return chosen

    def get(self, memory_id: int) -> dict:
        """One memory (same keys as `list`). Raises NotFoundError."""
        row = self.store.query_one("SELECT * FROM memories WHERE id = ?", (memory_id,))
        if row is None:
            raise NotFoundError(f"There is no memory {memory_id}: `nocturne memories list` shows them.")
        return {**row, "learned": row["id"] in self.recalled_ids()}

    def recalled_ids(self) -> set[int]:
        """Memories the active adapter verifiably recalls from its weights."""
        rows = self.store.query(
            "SELECT am.memory_id FROM adapter_memories am JOIN adapters a ON a.version = "
            "am.adapter_version WHERE a.status = 'active' AND am.recalled = 1")
        return {row["memory_id"] for row in rows}

    # -- adding and reviewing -----------------------------------------------------------------

    def add(self, text: str | bytes, kind: str = "fact", status: str = "approved",
            source_message_id: int | None = None, source_conversation_id: int | None = None) -> int:
        """Store a new memory.

        Returns:
            The new memory's id.

        Raises:
            InputError: empty, too long, not UTF-8, a secret, or a duplicate (DuplicateMemoryError).
            NotFoundError: the source message or conversation does not exist.
        """
        text = self._valid_text(text)
        kind = self._checked(kind, KINDS, "kind")
        status = self._checked(status, STATUSES, "status")
        if source_message_id is not None and self.store.query_one(
                "SELECT id FROM messages WHERE id = ?", (source_message_id,)) is None:
            raise NotFoundError(f"There is no message {source_message_id} to remember from.")
        if source_conversation_id is not None:
            self.app.log.get(source_conversation_id)
        existing = self._duplicate_of(text)
        if existing is not None:
            raise DuplicateMemoryError(existing)
        stamp = now_iso()
        with self.store.transaction() as db:
            return db["memories"].insert({
                "text": text, "kind": kind, "status": status,
                "source_message_id": source_message_id,
                "source_conversation_id": source_conversation_id,
                "created_at": stamp, "updated_at": stamp,
            }).last_pk

    def edit(self, memory_id: int, text: str | bytes) -> None:
        """Change a memory's text; adapters trained on the old text are tainted."""
        old = self.get(memory_id)
        text = self._valid_text(text)
        if text == old["text"]:
            return
        existing = self._duplicate_of(text, exclude_id=memory_id)
        if existing is not None:
            raise DuplicateMemoryError(existing)
        with self.store.transaction() as db:
            db["memories"].update(memory_id, {"text": text, "updated_at": now_iso()})
            tainted = taint_adapters(db, [memory_id], "edited")
        self._after_forgetting(*tainted)

    def approve(self, memory_id: int) -> None:
        """Approve a memory: it is used in chats at once and trained tonight."""
        self._set_status(memory_id, "approved")

    def reject(self, memory_id: int) -> None:
        """Reject a memory: never used or trained, and never proposed again."""
        self._set_status(memory_id, "rejected")

    def review(self, memory_ids: Collection[int], status: str) -> ReviewResult:
        """Approve or reject many memories in one transaction: all of them, or none when an id
        is not a memory (NotFoundError). Rejecting taints adapters as `reject` does."""
        if status not in ("approved", "rejected"):
            raise InputError(f"{status!r} is not a review decision: use approved or rejected.")
        with self.store.transaction() as db:
            result, active_base = set_statuses(db, list(memory_ids), status)
        if result.tainted_adapters:
            self._after_forgetting(result.tainted_adapters, active_base)
        return result

    def remember_message(self, message_id: int) -> int:
        """"Remember this" on a message: its text becomes an approved memory.

        A user's "remember that X" keeps just X; other text is kept as written.

        Returns:
            The new memory's id.
        """
        row = self.app.log.message(message_id)
        text = row["content"] or ""
        if len(text) > MAX_MEMORY_CHARS:
            raise InputError(f"This message is {len(text):,} characters, too long for a memory "
                             f"(at most {MAX_MEMORY_CHARS}): add a short version in Memories instead.")
        if row["role"] == "user":
            text = explicit_request(text) or text
        return self.add(text, kind=kind_of(text), source_message_id=message_id,
                        source_conversation_id=row["conversation_id"])

    # -- deleting -----------------------------------------------------------------------------

    def conversations_mentioning(self, memory_id: int) -> list[dict]:
        """Conversations that would still hold a memory once it is deleted.

        Returns:
            [{"id", "title", "why"}]: why is "source", "used" (a turn used it) or "mentions".
        """
        row = self.get(memory_id)
        return conversations_mentioning(self.store, memory_id, row["text"], row["source_conversation_id"])

    def delete(self, memory_id: int, delete_conversations: bool = False,
               also_conversations: Collection[int] = ()) -> dict:
        """Delete a memory for good, taint adapters trained on it, purge what runs kept of it.

        Args:
            memory_id: the memory.
            delete_conversations: also delete the conversation it came from.
            also_conversations: other conversations to delete, which the user confirmed; only
                those among `conversations_mentioning` are deleted, never an unrelated chat.

        Returns:
            {"memory_id", "conversation_ids" (deleted), "still_mentioned" (the conversations
            that mention it and were kept: [{"id", "title", "why"}]), "tainted_adapters"}.
        """
        row = self.get(memory_id)
        concerned = self.conversations_mentioning(memory_id)
        chosen = set(also_conversations)
        if delete_conversations and row["source_conversation_id"] is not None:
            chosen.add(row["source_conversation_id"])
        deleted = sorted(c["id"] for c in concerned if c["id"] in chosen)
        needles = needles_for(self.store, memory_id, row["text"])
        with self.store.transaction() as db:
            tainted = taint_adapters(db, [memory_id], "deleted")
            db.execute("DELETE FROM message_memories WHERE memory_id = ?", [memory_id])
            db.execute("DELETE FROM memories WHERE id = ?", [memory_id])
            for conversation_id in deleted:
                delete_conversation_rows(db, conversation_id)
        self._forget_traces(memory_id, needles)
        self._after_forgetting(*tainted)
        return {"memory_id": memory_id, "conversation_ids": deleted,
                "still_mentioned": [c for c in concerned if c["id"] not in deleted],
                "tainted_adapters": tainted[0]}

    def delete_conversation(self, conversation_id: int, with_memories: bool = False) -> dict:
        """Delete a conversation for good, and the memories that came from it when asked.

        Returns:
            {"conversation_id", "memory_ids", "tainted_adapters"}.
        """
        self.app.log.get(conversation_id)
        memories = []
        if with_memories:
            memories = self.store.query(
                "SELECT id, text FROM memories WHERE source_conversation_id = ?", (conversation_id,))
        memory_ids = [m["id"] for m in memories]
        needles = {m["id"]: needles_for(self.store, m["id"], m["text"]) for m in memories}
        with self.store.transaction() as db:
            tainted = taint_adapters(db, memory_ids, "deleted")
            for memory_id in memory_ids:
                db.execute("DELETE FROM message_memories WHERE memory_id = ?", [memory_id])
                db.execute("DELETE FROM memories WHERE id = ?", [memory_id])
            delete_conversation_rows(db, conversation_id)
        for memory_id, found in needles.items():
            self._forget_traces(memory_id, found)
        self._after_forgetting(*tainted)
        return {"conversation_id": conversation_id, "memory_ids": memory_ids,
                "tainted_adapters": tainted[0]}

    # -- automatic proposals and retraining -----------------------------------------------------

    def propose(self, since: str | None = None, conversation_ids: list[int] | None = None) -> list[int]:
        """Pending memories from the user's logged statements (app.memory_proposals.propose)."""
        return memory_proposals.propose(self.store, since, conversation_ids)

    def propose_from(self, messages: list[dict]) -> list[int]:
        """Pending memories from these message rows (app.memory_proposals.propose_from)."""
        return memory_proposals.propose_from(self.store, messages)

    def retrain_needed(self) -> bool:
        """True when the active adapter was not trained on exactly the approved memories."""
        approved = {r["id"]: content_sha256(r["text"]) for r in self.store.query(
            "SELECT id, text FROM memories WHERE status = 'approved'") if find_secret(r["text"]) is None}
        active = self.store.query_one("SELECT version FROM adapters WHERE status = 'active'")
        if active is None:  # none trained yet, or it was tainted
            return bool(approved)
        trained = {r["memory_id"]: r["content_sha256"] for r in self.store.query(
            "SELECT memory_id, content_sha256 FROM adapter_memories WHERE adapter_version = ?",
            (active["version"],))}
        return trained != approved

    # -- chat hooks (app.chat.MemoryHooks) ----------------------------------------------------

    def is_capture(self, text: str) -> bool:
        return explicit_request(text) is not None

    def capture(self, text: str, conversation_id: int | None, message_id: int | None) -> str:
        """Store what an explicit request asks to remember; returns the answer to show."""
        what = explicit_request(text)
        if not what:
            return f"Tell me what to remember after “remember”, {REMEMBER_EXAMPLE}."
        try:
            self.add(what, kind=kind_of(what), source_message_id=message_id,
                     source_conversation_id=conversation_id)
        except DuplicateMemoryError as exc:
            if exc.existing["status"] != "approved":
                self.approve(exc.existing["id"])
                return confirmation(exc.existing["text"])
            return f"I already remember that (memory {exc.existing['id']})."
        except SecretRefusedError as exc:
            self._redact_message(message_id)
            return (f"I didn't save that because {exc.reason}: I never store secrets, so keep it "
                    "in a password manager (I removed it from this chat's log too).")
        except InputError as exc:
            return f"I didn't save that: {exc}"
        return confirmation(what)

    def for_prompt(self, text: str, count_tokens: Callable[[str], int], budget: int) -> list[tuple[int, str]]:
        """Approved memories for the prompt: relevant first (bm25), then newest, within `budget`.

        Memories the active adapter recalls are left out: they are in the weights already.
        """
        return memories_for_prompt(self.store, text, count_tokens, budget, self.recalled_ids())

    # -- helpers ------------------------------------------------------------------------------

    def _valid_text(self, text: str | bytes) -> str:
        text = tidy(clean_user_text(text, "memory", MAX_MEMORY_CHARS))
        reason = find_secret(text)
        if reason:
            raise SecretRefusedError(reason)
        return text

    @staticmethod
    def _checked(value: str, allowed: tuple[str, ...], what: str) -> str:
        if value not in allowed:
            raise InputError(f"{value!r} is not a memory {what}: use one of {', '.join(allowed)}.")
        return value

    def _duplicate_of(self, text: str, exclude_id: int | None = None) -> dict | None:
        key = normalize(text)
        for row in self.store.query("SELECT * FROM memories ORDER BY id"):
            if row["id"] != exclude_id and normalize(row["text"]) == key:
                return row
        return None

    def _set_status(self, memory_id: int, status: str) -> None:
        self.get(memory_id)  # a missing id says so in the single-memory words
        self.review([memory_id], status)

    def _after_forgetting(self, tainted: list[str], active_base: str | None) -> None:
        """Delete tainted adapters' files, fall back to a clean adapter, purge freed text."""
        remove_tainted_files(self.store, self.app.home)
        if active_base is not None:
            fall_back_to_clean_adapter(self.store, self.app.home, active_base)
        self.store.purge_freed_text()

    def _forget_traces(self, memory_id: int, needles: set[str]) -> None:
        """What learning runs kept of a deleted memory: report entries, log lines, files."""
        purge_run_records(self.store, memory_id, needles)
        purge_files(self.store, self.app.home, needles)

    def _redact_message(self, message_id: int | None) -> None:
        """Remove a secret the user typed from the chat log (the memory was refused).

        The conversation's title was made from that message when it was the first: it goes too.
        The full-text index follows the row (its triggers), and the purge makes the old words
        leave the file.
        """
        if message_id is None:
            return
        row = self.store.query_one("SELECT conversation_id, content FROM messages WHERE id = ?", (message_id,))
        if row is None:
            return
        with self.store.transaction() as db:
            db["messages"].update(message_id, {"content": SECRET_REMOVED})
            db.execute("UPDATE conversations SET title = ? WHERE id = ? AND title = ?",
                       [SECRET_REMOVED, row["conversation_id"], title_from(row["content"] or "")])
        self.store.purge_freed_text()
