"""Many chats from the hand-written development conversations, for measurements at scale.

bench/data/memory_conversations*.jsonl hold 44 conversations (88 user turns). A measurement of
1,000 turns or an import of hundreds of proposals repeats them, and varies each copy (other
names, places and numbers) so that its statements are new facts, not duplicates the
deduplication would drop at once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
SETS = ("memory_conversations.jsonl", "memory_conversations_heldout.jsonl")
NAMES = ("Ada", "Birk", "Clara", "Dev", "Elin", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaia",
         "Liam", "Maja", "Noor", "Oskar", "Priya", "Rune", "Sofia", "Tariq", "Ulla", "Vera", "Wim")
PLACES = ("Oslo", "Leeds", "Porto", "Graz", "Turku", "Ghent", "Lyon", "Cork", "Malmo", "Bergen",
          "Basel", "Split", "Tartu", "Kobe", "Perth", "Quito")
_PROPER = re.compile(r"(?<=[a-z,] )[A-Z][^\W\d_]+")  # a capitalised word inside a sentence
_NUMBER = re.compile(r"\b\d+\b")


def conversations() -> list[list[dict]]:
    """The development conversations' turns (both sets), in file order."""
    found = []
    for name in SETS:
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line:
                found.append(json.loads(line)["turns"])
    return found


def varied(turns: list[dict], copy: int) -> list[dict]:
    """Copy `copy` of a conversation: proper nouns and numbers replaced (copy 0 is unchanged)."""
    if copy == 0:
        return turns

    def noun(match: re.Match) -> str:
        pool = PLACES if len(match[0]) % 2 else NAMES
        return pool[(hash_of(match[0]) + copy) % len(pool)] + ("" if copy < len(pool) else str(copy))

    def number(match: re.Match) -> str:
        return str(int(match[0]) + copy)

    return [{**t, "content": _NUMBER.sub(number, _PROPER.sub(noun, t["content"]))} for t in turns]


def hash_of(word: str) -> int:
    """A hash stable across runs (Python's str hash is salted per process)."""
    return sum(ord(c) * (i + 1) for i, c in enumerate(word))


def chats_with_user_turns(user_turns: int) -> list[list[dict]]:
    """Varied copies of the development conversations, until they hold `user_turns` user turns
    (the last conversation is cut to fit)."""
    base, chats, count, copy = conversations(), [], 0, 0
    while count < user_turns:
        for turns in base:
            chat = []
            for turn in varied(turns, copy):
                if turn["role"] == "user":
                    if count == user_turns:
                        break
                    count += 1
                chat.append(turn)
            chats.append(chat)
            if count == user_turns:
                break
        copy += 1
    return chats


def write_claude_export(path: Path, chats: list[list[dict]]) -> Path:
    """`chats` as a Claude data export's conversations.json (the structure app/chat_exports.py
    reads), dated one day apart in 2024."""
    items = []
    for number, turns in enumerate(chats):
        stamp = f"2024-{1 + number // 28 % 12:02d}-{1 + number % 28:02d}T09:00:00Z"
        items.append({"uuid": f"bench-{number}", "name": f"Chat {number}", "created_at": stamp,
                      "updated_at": stamp,
                      "chat_messages": [{"sender": "human" if t["role"] == "user" else "assistant",
                                         "text": t["content"], "created_at": stamp} for t in turns]})
    path.write_text(json.dumps(items), encoding="utf-8")
    return path
