"""Whether a memory was really used by a chat turn, and whether a text really mentions it.

The prompt carries more memories than the turn needs (app.memory_context fills the budget with
unrelated ones, because a 135M model cannot answer from a fact it does not see). What we *record*
must be narrower, since deleting a memory "with its conversations" acts on that record:

- a memory's **distinctive words** are its words minus stopwords and words that say nothing on
  their own ("called", "name", "really"...), folded to a crude stem ("cats" -> "cat");
- its **names** are the distinctive words written with a capital inside the sentence, or with
  digits ("Biscuit", "Lyon", "1990"): the values a fact is about;
- a turn **used** a memory that was in its prompt when the question shares a distinctive word
  with it (the user asked about it), or the answer contains one of its names or more than half
  of its distinctive words that the question did not bring (the model repeated it);
- a text **mentions** a memory when it contains more than half of its distinctive words.

So "what is 2+2" never uses "My dog is called Biscuit", while "what is my dog called?" does, and
so does an answer to anything that says "your dog Biscuit".
"""

from __future__ import annotations

import re

from app.memory_context import STOPWORDS

# Words a memory shares with unrelated sentences; they never make a memory relevant on their own.
VAGUE_WORDS = frozenset(
    "called named name really very much also just always usually often sometime got get "
    "one thing some any like know remember think want please thank yes no ok "
    "okay its it's i'm im i've i'd i'll our we us mine am been being there their they them he she "
    "him her his hers not don't doesn't".split()
)


def _stem(word: str) -> str:
    word = word.lower().removesuffix("'s").removesuffix("’s")
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def words(text: str) -> set[str]:
    """Every word of `text`, lower-cased and stemmed."""
    return {_stem(w) for w in re.findall(r"[^\W_]+(?:['’][^\W_]+)?", text)}


def distinctive_words(text: str) -> set[str]:
    """The words that identify a memory (stemmed): no stopwords, no vague words."""
    return {w for w in words(text) if w not in STOPWORDS and w not in VAGUE_WORDS}


def names(text: str) -> set[str]:
    """The distinctive words that are names or numbers (stemmed), e.g. {"biscuit"}."""
    tokens = re.findall(r"[^\W_]+(?:['’][^\W_]+)?", text)
    named = {_stem(t) for i, t in enumerate(tokens) if (i > 0 and t[0].isupper()) or any(c.isdigit() for c in t)}
    return named & distinctive_words(text)


def _most_of(needed: set[str], present: set[str]) -> bool:
    return bool(needed) and 2 * len(needed & present) > len(needed)


def mentions(memory: str, text: str) -> bool:
    """True when `text` contains more than half of the memory's distinctive words."""
    return _most_of(distinctive_words(memory), words(text))


def used_in_turn(memory: str, question: str, answer: str) -> bool:
    """True when a turn with `memory` in its prompt really used it (see the module docstring)."""
    key = distinctive_words(memory)
    asked = words(question)
    if key & asked:
        return True
    said = words(answer)
    return bool(names(memory) & said) or _most_of(key - asked, said)


def used_memories(remembered: list[tuple[int, str]], question: str, answer: str) -> list[int]:
    """Ids of the prompt's memories (id, text) that the turn used."""
    return [memory_id for memory_id, memory in remembered if used_in_turn(memory, question, answer)]
