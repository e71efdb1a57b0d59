"""Build the prompt: system prompt, memories, as much recent history as fits, the new message."""

from __future__ import annotations

import re
from typing import Callable

from app.errors import InputError

SYSTEM_PROMPT = (
    "You are Nocturne, a helpful personal assistant that runs privately on the user's own "
    "computer. Answer clearly and concisely."
)

# Cheap upper bound before tokenizing: no tokenizer packs more than this many characters into
# a token on real text, so longer input cannot fit and is refused without tokenizing it.
MAX_CHARS_PER_TOKEN = 12


def system_message(memories: list[str]) -> dict:
    """The system message, with what the assistant knows about the user.

    Memories are turned to the second person ("My cat is called Miso" -> "Your cat is called
    Miso."): measured with the bundled 135M model, first-person facts made it answer as the
    user or mix facts up (1 of 4 questions right), second-person facts got 3 of 4.
    """
    content = SYSTEM_PROMPT
    if memories:
        facts = "\n".join(f"- {_addressed_to_user(text)}" for text in memories)
        content += f"\n\nWhat you know about the user (answer questions about them from this):\n{facts}"
    return {"role": "system", "content": content}


def _addressed_to_user(memory: str) -> str:
    from app.memory_capture import second_person

    text = memory.strip().rstrip(".")
    if re.search(r"\b(you|your|yours)\b", text, re.I):
        return text + "."  # already addressed to the assistant ("I'd like you to ..."): keep it
    told = second_person(text)
    return told[:1].upper() + told[1:] + "."


def fit_prompt(
    system: dict,
    history: list[dict],
    user_text: str,
    count_tokens: Callable[[list[dict]], int],
    budget: int,
) -> list[dict]:
    """The messages to send: system + the most recent history that fits + the user's message.

    Oldest turns are dropped first, whole (a user message with its answer). Raises InputError
    when even the system prompt and the new message alone exceed `budget` tokens.
    """
    user = {"role": "user", "content": user_text}
    if len(user_text) > budget * MAX_CHARS_PER_TOKEN:
        raise _too_long(len(user_text) // MAX_CHARS_PER_TOKEN, budget, estimated=True)
    alone = count_tokens([system, user])
    if alone > budget:
        raise _too_long(alone, budget)
    kept = list(history)
    while kept:
        if count_tokens([system, *kept, user]) <= budget:
            break
        # Drop the oldest turn; keep the history starting on a user message.
        kept = kept[1:]
        while kept and kept[0]["role"] != "user":
            kept = kept[1:]
    return [system, *kept, user]


def _too_long(tokens: int, budget: int, estimated: bool = False) -> InputError:
    about = "at least " if estimated else ""
    return InputError(
        f"The message is {about}{tokens:,} tokens, more than the {budget:,} the model's context "
        "leaves for it: shorten it, or raise the context size in Settings."
    )
