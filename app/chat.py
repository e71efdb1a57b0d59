"""The chat service: one turn at a time, streamed, cancellable, and logged when it ends.

The desktop app and the CLI both call `ChatService.reply()`; the returned `Reply` is iterated
(off the UI thread) for text pieces and logs the exchange itself when the stream ends, is
cancelled or fails, so no caller can forget to log or log twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from app.conversation_lock import conversation_turn
from app.conversations import Conversation, ConversationLog
from app.errors import InputError, NocturneError
from app.memory_relevance import used_memories
from app.prompt import fit_prompt, system_message
from app.text_input import clean_user_text

MAX_CAPTURE_CHARS = 2_000  # "remember that ..." longer than this is no memory (they hold 500)
from ondevice.engine import Engine, EngineError, GenerationOptions, Usage

NOT_REMEMBERED = (
    "This chat is not being saved (temporary chat or logging off), so I won't remember that."
)


class MemoryHooks(Protocol):
    """What the chat service needs from memories (implemented in app.memories)."""

    def is_capture(self, text: str) -> bool:
        """True when `text` asks to remember something ("remember that ...", "/remember ...")."""

    def capture(self, text: str, conversation_id: int | None, message_id: int | None) -> str:
        """Store what `text` asks to remember; return the confirmation (or refusal) to show."""

    def for_prompt(self, text: str, count_tokens: Callable[[str], int], budget: int) -> list[tuple[int, str]]:
        """(memory id, text) of approved memories relevant to `text`, within `budget` tokens."""


@dataclass
class ChatSettings:
    logging: bool = True  # off: nothing is written, like a temporary chat
    use_memories: bool = True
    options: GenerationOptions = field(default_factory=GenerationOptions)
    memory_budget: int = 256  # tokens of the context that memories may take


class Reply:
    """One assistant turn. Iterate it for text; afterwards read text, usage, status, ids."""

    def __init__(self, run: Callable[["Reply"], Iterator[str]]):
        self._run = run
        self._cancel = threading.Event()
        self.text = ""
        self.usage: Usage | None = None
        self.status = "pending"  # complete | cancelled | error
        self.error: str | None = None
        self.user_message_id: int | None = None
        self.message_id: int | None = None
        self.memory_ids: list[int] = []  # every memory in the prompt
        self.prompt_memories: list[tuple[int, str]] = []  # (id, text) of those memories
        self.question = ""
        self.conversation: Conversation | None = None

    def cancel(self) -> None:
        """Stop generating (thread-safe); what arrived so far is kept and logged as cancelled."""
        self._cancel.set()

    @property
    def cancel_event(self) -> threading.Event:
        return self._cancel

    def __iter__(self) -> Iterator[str]:
        return self._run(self)

    def consume(self, on_text: Callable[[str], None] | None = None) -> "Reply":
        """Run the whole turn, passing each piece to `on_text`."""
        for piece in self:
            if on_text:
                on_text(piece)
        return self


class ChatService:
    """Answers messages with an engine, fitting memories and history into the context."""

    def __init__(
        self,
        log: ConversationLog,
        engine: Engine,
        settings: ChatSettings | None = None,
        memories: MemoryHooks | None = None,
    ):
        self.log = log
        self.engine = engine
        self.settings = settings or ChatSettings()
        self.memories = memories

    def new_conversation(self, temporary: bool = False) -> Conversation:
        return Conversation(temporary=temporary)

    def reply(self, conversation: Conversation, text: str | bytes) -> Reply:
        """Start a turn. Raises InputError at once for empty or invalid text; nothing is logged."""
        text = clean_user_text(text, "message")
        if self.memories is not None and len(text) > MAX_CAPTURE_CHARS and self.memories.is_capture(text):
            # It could never become a memory, and a huge message in the log makes search crawl.
            raise InputError(f"That is too long to remember ({len(text):,} characters): a memory is "
                             "a sentence or two.")
        reply = Reply(lambda r: self._run(r, conversation, text))
        reply.conversation = conversation
        return reply

    # -- the turn -----------------------------------------------------------------------------

    def _logging(self, conversation: Conversation) -> bool:
        return self.settings.logging and not conversation.temporary

    def _run(self, reply: Reply, conversation: Conversation, text: str) -> Iterator[str]:
        if not self._logging(conversation) or conversation.id is None:
            yield from self._turn(reply, conversation, text)
            return
        # Another window or command may be continuing this conversation: take turns, so each
        # question and its answer stay together, and answer with its turns in the history.
        with conversation_turn(self.log.store.home, conversation.id):
            conversation.messages = self.log.load(conversation.id).messages
            yield from self._turn(reply, conversation, text)

    def _turn(self, reply: Reply, conversation: Conversation, text: str) -> Iterator[str]:
        logging = self._logging(conversation)
        # Fit the prompt before logging, so a message that can never fit is refused untouched.
        capture = self.memories is not None and self.memories.is_capture(text)
        messages = None if capture else self._prompt(conversation, text, reply)
        if logging:
            if conversation.id is None:
                conversation.id = self.log.create(title=text)
            # The user's words are stored first: a crash mid-answer never loses them.
            reply.user_message_id = self.log.add_message(conversation.id, "user", text)
        try:
            if messages is None:
                if logging:
                    confirmation = self.memories.capture(text, conversation.id, reply.user_message_id)
                else:
                    confirmation = NOT_REMEMBERED
                reply.text = confirmation
                reply.status = "complete"
                yield confirmation
            else:
                yield from self._generate(reply, messages)
        except GeneratorExit:
            reply.status = "cancelled"
            raise
        except (EngineError, NocturneError) as exc:
            reply.status, reply.error = "error", str(exc)
            raise
        except Exception as exc:  # log what happened, then let the caller see it
            reply.status, reply.error = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if capture and logging and reply.user_message_id is not None:
                text = self.log.message(reply.user_message_id)["content"]  # a refused secret is gone
            conversation.messages.append({"role": "user", "content": text})
            if reply.text:
                conversation.messages.append({"role": "assistant", "content": reply.text})
            if logging:
                self._log_answer(reply, conversation)

    def _prompt(self, conversation: Conversation, text: str, reply: Reply) -> list[dict]:
        remembered: list[tuple[int, str]] = []
        if self.memories is not None and self.settings.use_memories:
            remembered = self.memories.for_prompt(
                text, lambda s: self.engine.count_tokens([{"role": "user", "content": s}]),
                self.settings.memory_budget,
            )
        reply.memory_ids = [memory_id for memory_id, _ in remembered]
        reply.prompt_memories, reply.question = remembered, text
        budget = self.engine.context_size - min(self.settings.options.max_tokens, self.engine.context_size // 4)
        return fit_prompt(
            system_message([memory for _, memory in remembered]),
            conversation.messages,
            text,
            self.engine.count_tokens,
            budget,
        )

    def _generate(self, reply: Reply, messages: list[dict]) -> Iterator[str]:
        pieces: list[str] = []
        try:
            for item in self.engine.stream(messages, self.settings.options, reply.cancel_event):
                if isinstance(item, Usage):
                    reply.usage = item
                else:
                    pieces.append(item)
                    reply.text = "".join(pieces)
                    yield item
        finally:
            reply.text = "".join(pieces).strip()
        cancelled = reply.usage is not None and reply.usage.finish_reason == "cancelled"
        reply.status = "cancelled" if cancelled or reply.cancel_event.is_set() else "complete"

    def _log_answer(self, reply: Reply, conversation: Conversation) -> None:
        usage = reply.usage
        fields = {
            "status": reply.status if reply.status != "pending" else "cancelled",
            "error": reply.error,
            "model": self.engine.model_name,
            "adapter_version": self.engine.adapter_version,
        }
        if usage is not None:
            fields.update(
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                ttft_ms=round(usage.ttft_ms, 1),
                duration_ms=round(usage.duration_ms, 1),
                tokens_per_s=round(usage.tokens_per_s, 2),
            )
        reply.message_id = self.log.add_message(conversation.id, "assistant", reply.text, **fields)
        # Recorded as used only when relevant: deleting a memory "with its conversations" acts
        # on this record, and the prompt also carries unrelated memories to fill its budget.
        used = used_memories(reply.prompt_memories, reply.question, reply.text)
        if used:
            with self.log.store.transaction() as db:
                db["message_memories"].insert_all(
                    [{"message_id": reply.message_id, "memory_id": m} for m in used], ignore=True)
