"""Memories proposed by the chat model itself, held to the same quality rules as the rule-based
pass (app/memory_capture.py), which stays as the floor and the cross-check.

The model reads the user's turns of one conversation (never the assistant's) and answers in JSON
that a grammar enforces: atomic first-person memories, each with its kind and source turn. What
it writes is kept only when it is grounded in the turn it names, so the model can neither invent
a fact nor take one from anyone but the user.
"""

from __future__ import annotations

import json
import re

from app.memory_capture import KnownMemories, content_words, is_fragment, own_words, propose_memories
from ondevice.engine import Engine, GenerationOptions

KINDS = ("fact", "preference", "style")
MAX_TURNS = 12  # user turns per request: fits a 2k context with room for the answer
MAX_TURN_CHARS = 600
GROUNDED = 0.7  # share of a memory's content words that must appear in its source turn

SCHEMA = {
    "type": "object",
    "properties": {
        "memories": {
            "type": "array",
            "maxItems": 8,
            "items": {
                "type": "object",
                "properties": {
                    "turn": {"type": "integer"},
                    "memory": {"type": "string", "maxLength": 160},
                    "kind": {"type": "string", "enum": list(KINDS)},
                },
                "required": ["turn", "memory", "kind"],
            },
        }
    },
    "required": ["memories"],
}

INSTRUCTIONS = (
    "You read what a user wrote to an assistant and list durable facts about the user: who they "
    "are, people and pets in their life, where they live, work, health, diet, habits, plans, "
    "likes and dislikes, and how they want answers. Write each as one short sentence in the "
    "user's first person (\"I live in Oslo\", \"My daughter is called Ada\"), one fact per "
    "sentence. Skip questions, requests, passing moods, and anything they quoted or pasted. "
    "Answer with JSON only. If there is nothing, answer {\"memories\": []}."
)
FIRST_PERSON = re.compile(r"^(?:i|i'm|i've|i'd|my|we|we're|our|mine)\b", re.I)


def extract(engine: Engine, messages: list[dict]) -> list[dict]:
    """Memories the model finds in the user's messages of one conversation.

    Args:
        engine: the chat model (loaded on first use).
        messages: message rows in order (role, content, and optionally id, conversation_id).

    Returns:
        {text, kind, source_message_id, source_conversation_id} per memory that passes the
        quality rules, deduplicated among themselves (the caller checks stored memories).
    """
    turns = [m for m in messages if m.get("role") == "user" and own_words(m.get("content") or "").strip()]
    found: list[dict] = []
    known = KnownMemories()
    for start in range(0, len(turns), MAX_TURNS):
        chunk = turns[start:start + MAX_TURNS]
        for item in _ask(engine, chunk):
            source = chunk[item["turn"] - 1] if 1 <= item["turn"] <= len(chunk) else None
            text = " ".join(str(item["memory"]).split()).rstrip(" .")
            if source is None or not acceptable(text, own_words(source["content"])) or text in known:
                continue
            known.add(text)
            found.append({"text": text[:1].upper() + text[1:], "kind": item["kind"],
                          "source_message_id": source.get("id"),
                          "source_conversation_id": source.get("conversation_id")})
    return found


def acceptable(memory: str, source: str) -> bool:
    """The quality rules: a first-person statement that names what it is about, and grounded in
    the user's own words of the turn it came from."""
    if memory.endswith("?") or not FIRST_PERSON.match(memory) or is_fragment(memory):
        return False
    carried = content_words(memory)
    if not carried:
        return False
    said = content_words(source)
    return len(carried & said) / len(carried) >= GROUNDED


def with_rules(engine: Engine, messages: list[dict]) -> list[dict]:
    """The model's memories plus the rule-based pass's, each memory once."""
    combined, known = [], KnownMemories()
    for memory in propose_memories(messages) + extract(engine, messages):
        if memory["text"] not in known:
            known.add(memory["text"])
            combined.append(memory)
    return combined


def _ask(engine: Engine, turns: list[dict]) -> list[dict]:
    numbered = "\n".join(f"{i}. {' '.join(own_words(t['content']).split())[:MAX_TURN_CHARS]}"
                         for i, t in enumerate(turns, 1))
    messages = [{"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": f"The user's messages:\n{numbered}\n\nList the memories."}]
    options = GenerationOptions(max_tokens=400, temperature=0.0, json_schema=SCHEMA)
    text = "".join(piece for piece in engine.stream(messages, options) if isinstance(piece, str))
    try:
        items = json.loads(text).get("memories", [])
    except (json.JSONDecodeError, AttributeError):
        return []  # cut off by max_tokens mid-JSON: nothing usable from this chunk
    return [i for i in items if isinstance(i, dict) and i.get("kind") in KINDS
            and isinstance(i.get("turn"), int) and isinstance(i.get("memory"), str)]
