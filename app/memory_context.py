"""Choose the memories that go into a chat prompt: relevant first, then newest, within a budget.

Relevance is SQLite FTS5 bm25 over memories_fts (no extra model). A 135M model cannot answer
from a fact it does not see, so memories sharing no word with the message still fill whatever
budget is left, newest first. Being in the prompt is not being used: what a turn records as
used (which deleting "with its conversations" acts on) is decided by app.memory_relevance.
"""

from __future__ import annotations

import re
from typing import Callable

MAX_PROMPT_CANDIDATES = 200  # bounds the token counting per turn
MAX_QUERY_WORDS = 64
# Words too common to say whether a memory is relevant to a message.
STOPWORDS = frozenset(
    "a an and are am as at be but by can do does did for from have has how i in is it me my of "
    "on or so that the this to was what when where which who why will with you your tell".split()
)


# Words a question is made of that say nothing about which memory it is about, and what is left
# of a contraction ("what's" -> "s", "don't" -> "don"): in a query they match almost everything.
QUESTION_NOISE = frozenset(
    "s t d m re ve ll don doesn didn isn aren wasn weren won couldn shouldn wouldn haven hasn "
    "would should could shall may might must they them their there here if any anything some "
    "someone something about into up out off got get give go most much many kind sort our we "
    "us she he her his him its am also just now then than too very really ever".split()
)
# People name one thing many ways; a question in one word should find a memory in another. A
# word gets every group it is in ("kids" finds a daughter and a son; "daughter" never a son).
# General relations, not the development set's sentences (bench/data/devset.txt is held out).
RELATED_WORDS = [
    {"mother", "mum", "mom", "mama", "mummy", "parents"}, {"father", "dad", "papa", "daddy", "parents"},
    {"grandmother", "grandma", "granny", "nan"}, {"grandfather", "grandpa", "granddad"},
    {"daughter", "girl", "children", "child", "kid", "kids"}, {"son", "boy", "children", "child", "kid", "kids"},
    {"partner", "husband", "wife", "spouse", "boyfriend", "girlfriend", "married", "wedding"},
    {"brother", "sibling", "siblings"}, {"sister", "sibling", "siblings"},
    {"job", "work", "works", "profession", "career", "occupation", "living"},
    {"home", "live", "lives", "hometown", "grew"}, {"born", "birth", "birthday"},
    {"cat", "kitty", "kitten"}, {"dog", "puppy"}, {"tall", "height"}, {"weigh", "weight"},
    {"doctor", "medicine", "drug", "allergic", "allergy", "allergies"},
    {"car", "drive", "drives"}, {"television", "tv"}, {"boss", "manager"},
    {"colleague", "colleagues", "coworker"}, {"neighbour", "neighbor", "door"},
    {"food", "eat", "dish", "meal"}, {"music", "band", "composer", "song"},
    {"author", "writer", "novels", "books"}, {"film", "films", "movie", "movies"},
]
_RELATED: dict[str, set[str]] = {}
for _group in RELATED_WORDS:
    for _word in _group:
        _RELATED.setdefault(_word, set()).update(_group)


def fts_query(text: str) -> str | None:
    """An FTS5 OR query of the message's meaningful words and their related words, each quoted
    (never FTS syntax)."""
    words = [w for w in re.findall(r"[^\W_]+", text.lower()) if w not in STOPWORDS and w not in QUESTION_NOISE]
    if not words:
        return None
    # The first words are enough to rank memories; a pasted page would make a huge query.
    words = list(dict.fromkeys(words))[:MAX_QUERY_WORDS]
    related = [r for w in words for r in sorted(_RELATED.get(w, ())) if r not in words]
    return " OR ".join('"' + w + '"' for w in list(dict.fromkeys(words + related)))


def memories_for_prompt(store, text: str, count_tokens: Callable[[str], int], budget: int,
                        skip: set[int]) -> list[tuple[int, str]]:
    """(id, text) of approved memories for a prompt about `text`.

    Args:
        store: the app's Store.
        text: the user's message.
        count_tokens: tokens of a text with the engine's tokenizer.
        budget: tokens the memory lines may take together.
        skip: memory ids to leave out (recalled by the active adapter).

    Returns:
        Best match first; memories that do not fit the budget are left out.
    """
    order: dict[int, str] = {}
    match = fts_query(text)
    if match:
        for row in store.query(
                "SELECT m.id, m.text FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid "
                "WHERE memories_fts MATCH ? AND m.status = 'approved' ORDER BY bm25(memories_fts) "
                "LIMIT ?", (match, MAX_PROMPT_CANDIDATES)):
            order[row["id"]] = row["text"]
    for row in store.query(
            "SELECT id, text FROM memories WHERE status = 'approved' "
            "ORDER BY updated_at DESC, id DESC LIMIT ?", (MAX_PROMPT_CANDIDATES,)):
        order.setdefault(row["id"], row["text"])
    chosen: list[tuple[int, str]] = []
    for memory_id, memory in order.items():
        if memory_id in skip:
            continue
        lines = [f"- {m}" for _, m in chosen] + [f"- {memory}"]
        if count_tokens("\n".join(lines)) <= budget:
            chosen.append((memory_id, memory))
    return chosen
