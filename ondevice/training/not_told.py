"""Questions about the user that no memory answers, trained to be answered "You haven't told me that."

Trained only on what the user told, an adapter learns that a question about the user gets a fact
about the user, and gives one when none was told (PLUM's negative QA pairs). The questions are
shipped (ondevice/data/unknown_personal.json); one is used only when no approved memory names its
topic, so nothing the user said is trained as unknown. bench/unknown_questions.py measures the
effect on questions of other topics.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources

from ondevice.answer_match import contains, fold

# One question nobody answered per this many memories: a share of what is trained, so the model
# does not learn that every question about the user is one it cannot answer.
MEMORIES_PER_QUESTION = 4
MIN_QUESTIONS = 2


@dataclass(frozen=True)
class NotTold:
    question: str
    about: tuple[str, ...]  # topic words: a memory starting a word with any of them answers it


def _data() -> dict:
    return json.loads((resources.files("ondevice") / "data" / "unknown_personal.json").read_text(encoding="utf-8"))


def not_told_answer() -> str:
    return _data()["answer"]


def shipped_questions() -> list[NotTold]:
    return [NotTold(row["question"], tuple(row["about"])) for row in _data()["questions"]]


def unanswered(memories: list[str], seed: int = 0) -> list[str]:
    """Shipped questions whose topic no memory in `memories` names, about one per
    MEMORIES_PER_QUESTION memories (none without memories), in a seeded order."""
    if not memories:
        return []
    told = [fold(text) for text in memories]
    free = [q.question for q in shipped_questions()
            if not any(contains(text, fold(word)) for text in told for word in q.about)]
    random.Random(seed).shuffle(free)
    return free[:max(MIN_QUESTIONS, len(memories) // MEMORIES_PER_QUESTION)]
