"""Turn one first-person memory into question/answer phrasings, some held out as recall probes.

A memory is a short sentence the user said about themselves ("My cat is called Miso", "I live in
Lyon"). Rule-based templates give several wordings of the question a user might ask later and
one answer in the second person; the probe checks that the answer contains the fact's value.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# First person -> second person, word by word (lower-case keys; case is restored below).
_PRONOUNS = {
    "i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
    "i'm": "you're", "im": "you're", "am": "are", "i've": "you've", "i'd": "you'd",
    "i'll": "you'll", "was": "were", "our": "your", "we": "you", "us": "you",
}
_ARTICLE = re.compile(r"^(a|an|the)\s+", re.I)


@dataclass(frozen=True)
class Phrasings:
    """Every wording derived from one memory."""

    statement: str  # the memory, cleaned: "My cat is called Miso."
    answer: str  # in the second person: "Your cat is called Miso."
    expected: str  # the value a recalled answer must contain: "Miso"
    questions: tuple[str, ...]  # several wordings of the question


def second_person(text: str) -> str:
    """'My cat is called Miso' -> 'Your cat is called Miso' (pronouns only; rest untouched)."""

    def swap(match: re.Match) -> str:
        word = match.group(0)
        other = _PRONOUNS.get(word.lower())
        if other is None:
            return word
        return other.capitalize() if word[0].isupper() and match.start() == 0 else other

    return re.sub(r"[A-Za-z']+", swap, text)


def _clean(text: str) -> str:
    text = " ".join(text.split()).strip()
    return text.rstrip(".!;, ")


def _value(text: str) -> str:
    """The fact's value without a leading article or trailing punctuation ('a beekeeper' -> 'beekeeper')."""
    return _ARTICLE.sub("", _clean(text)).strip("\"'")


def _rules(core: str) -> tuple[list[str], str, str] | None:
    """(questions, answer, expected) for the sentence shapes we recognize, else None."""
    m = re.fullmatch(r"my (.+?)'s name is (.+)", core, re.I)
    if m:
        who, value = m[1], _value(m[2])
        return ([f"What is my {who}'s name?", f"What is my {who} called?",
                 f"What's the name of my {who}?", f"Do you remember my {who}'s name?",
                 f"Tell me my {who}'s name."], f"Your {who}'s name is {_clean(m[2])}.", value)
    m = re.fullmatch(r"my (.+?) (is|are) (called|named) (.+)", core, re.I)
    if m:
        thing, verb, value = m[1], m[2].lower(), _value(m[4])
        return ([f"What {verb} my {thing} called?", f"What is the name of my {thing}?",
                 f"What's my {thing}'s name?", f"Do you remember what my {thing} {verb} called?",
                 f"Tell me the name of my {thing}."], f"Your {thing} {verb} called {_clean(m[4])}.", value)
    m = re.fullmatch(r"my (.+?) (is|are) (.+)", core, re.I)
    if m:
        thing, verb, value = m[1], m[2].lower(), _value(m[3])
        return ([f"What {verb} my {thing}?", f"What's my {thing}?", f"Tell me my {thing}.",
                 f"Do you remember my {thing}?", f"Which {thing} do I have?"],
                f"Your {thing} {verb} {_clean(m[3])}.", value)
    m = re.fullmatch(r"i (?:live|am living|'m living) in (.+)", core, re.I)
    if m:
        return (["Where do I live?", "Which city do I live in?", "Where is my home?",
                 "Where am I based?", "Do you remember where I live?"],
                f"You live in {_clean(m[1])}.", _value(m[1]))
    m = re.fullmatch(r"i work as (.+)", core, re.I)
    if m:
        return (["What is my job?", "What do I do for a living?", "What is my profession?",
                 "What do I work as?", "Do you remember my job?"],
                f"You work as {_clean(m[1])}.", _value(m[1]))
    m = re.fullmatch(r"i work (?:at|for) (.+)", core, re.I)
    if m:
        return (["Where do I work?", "Which company do I work for?", "Who is my employer?",
                 "Who do I work for?", "Do you remember where I work?"],
                f"You work at {_clean(m[1])}.", _value(m[1]))
    m = re.fullmatch(r"i (?:really )?(like|love|enjoy) (.+)", core, re.I)
    if m:
        verb = m[1].lower()
        return ([f"What do I {verb}?", "What do I enjoy?", "Tell me something I like.",
                 "What is something I love?", "Do you remember what I like?"],
                f"You {verb} {_clean(m[2])}.", _value(m[2]))
    m = re.fullmatch(r"i prefer (.+)", core, re.I)
    if m:
        return (["What do I prefer?", "What is my preference?", "How do I like things?",
                 "Do you remember what I prefer?", "What kind of thing do I prefer?"],
                f"You prefer {_clean(m[1])}.", _value(m[1]))
    return None


def phrase(memory: str) -> Phrasings:
    """All the wordings for one memory.

    Args:
        memory: a short first-person sentence.

    Returns:
        The statement, the second-person answer, the expected value and 3-5 questions. An
        unrecognized sentence gets the generic "What do you know about me?" questions and its
        last word as the expected value.
    """
    core = _clean(memory)
    statement = core[:1].upper() + core[1:] + "."
    found = _rules(core)
    if found is not None:
        questions, answer, expected = found
    else:
        told = second_person(core)
        answer = f"You told me that {told[:1].lower() + told[1:]}."
        words = [w.strip("\"'()") for w in core.split()]
        expected = next((w for w in reversed(words) if len(w) > 2), words[-1] if words else core)
        questions = ["What do you know about me?", "Tell me something about me.",
                     "What have I told you about myself?"]
    return Phrasings(statement, answer, expected, tuple(questions))


def split_probes(phrasings: Phrasings, memory_id: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split the questions into (trained, held-out probes): 1 probe for <=3 wordings, else 2.

    The choice is random but fixed per memory id, so re-runs hold out the same wordings.

    Args:
        phrasings: the wordings of one memory.
        memory_id: seeds the choice.
        seed: extra seed (benchmarks vary it).

    Returns:
        (questions to train on, questions to hold out).
    """
    questions = list(phrasings.questions)
    held = 1 if len(questions) <= 3 else 2
    rng = random.Random(memory_id * 7919 + seed)
    probes = set(rng.sample(range(len(questions)), held))
    trained = [q for i, q in enumerate(questions) if i not in probes]
    return trained, [q for i, q in enumerate(questions) if i in probes]
