"""Split a memory into atomic facts, each about one subject, in the first or third person.

"My son Eirik is four years old" holds two facts: the son is called Eirik, and Eirik is four.
Taught as one sentence, the 135M model learned neither (it was asked "What's my daughter
<name>?"); taught apart, each gets its own questions. Rules are plain and explainable:
  - "my RELATION Name REST" (an apposition) -> "My RELATION is called Name." + "Name REST."
  - "A and B" / "A, but B" where B has its own verb -> two clauses; a B with no subject
    ("... lives in Lyon and paints") takes A's subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words that start a predicate: where a subject ends. Enough for what people tell an assistant.
VERBS = frozenset(
    "is are was were am 'm has have had lives live lived works work worked plays play played "
    "loves love loved likes like liked enjoys enjoy owns own drives drive grew grow grows "
    "wants want used uses use goes go went takes take took visits visit reads read bakes bake "
    "runs run ran swims swim swam speaks speak studies study studied paints paint cooks cook "
    "teaches teach moved move married got get gets can can't cannot don't doesn't didn't never "
    "will won't would joined join started start calls call walks walk drinks drink eats eat "
    "wears wear needs need keeps keep collects collect comes come spends spend does do did "
    "believes thinks hates hate prefers prefer weighs weigh grows celebrates celebrate earns earn "
    "holds hold knows know met meets meet makes make made finds find found writes write sings sing "
    "rides ride keeps kept".split()
)
ADVERBS = frozenset("still also often usually always really".split())
_NAME = r"[A-ZÀ-ÖØ-ÞĀ-ſ][\w'’.-]*(?:\s+[A-ZÀ-ÖØ-ÞĀ-ſ][\w'’.-]*)*"


@dataclass(frozen=True)
class Fact:
    """One atomic fact: who it is about and the sentence that states it."""

    subject: str  # "I", "my son", "Eirik"
    text: str  # "Eirik is four years old"


def clean(text: str) -> str:
    return " ".join(text.split()).strip().rstrip(".!;, ")


def subject_of(clause: str) -> str | None:
    """The words before the first verb ("my brother's wife Nadia" in "my brother's wife Nadia
    is from ..."), or None when no verb is found."""
    words = clause.split()
    for i, word in enumerate(words):
        if word.lower() in {"i", "i'm", "i've", "i'd", "i'll", "we", "we're", "we've"}:  # also after a time: "Every evening I ..."
            return "I" if word.lower().startswith("i") else "we"
        verb_next = word.lower() in ADVERBS and i + 1 < len(words) and words[i + 1].lower() in VERBS
        if i and (word.lower() in VERBS or word.lower().endswith("n't") or verb_next):
            return " ".join(words[:i])
    # A verb the list lacks after a name: "Rannvá earns her living as a lawyer".
    name = re.match(rf"({_NAME}) [a-z]+s\b", clause)
    if name and name[1].split()[0].lower() not in {"my", "our", "the", "a", "an", "this", "that"}:
        return name[1]
    return None


def _clauses(text: str) -> list[str]:
    """Split at ' and ' / ', but ' / ' but ' when the right side is a clause of its own."""
    parts = re.split(r",?\s+(?:and|but)\s+", text)
    if len(parts) == 1:
        return [text]
    clauses = [parts[0]]
    for part in parts[1:]:
        words = part.split()
        if not words:  # "..., but ," : nothing on the right
            continue
        left, head = clauses[-1], words[0].lower()
        if head in ADVERBS and len(words) > 1:  # "... and still swims": the verb is next
            head = words[1].lower()
        if subject_of(left) is None:
            clauses[-1] = f"{left} and {part}"  # "Jonas and I got married": one clause
        elif head in VERBS:
            clauses.append(f"{subject_of(left)} {part}")  # "... and paints" -> "Zoë paints"
        elif subject_of(part) is not None:
            clauses.append(part)  # "..., but Miso is hypoallergenic"
        else:
            clauses[-1] = f"{left} and {part}"  # "dark chocolate and sea salt": one object
    return clauses


def atomic_facts(memory: str) -> list[Fact]:
    """The memory's atomic facts, in order; a memory with no recognisable verb is one fact."""
    facts: list[Fact] = []
    for clause in _clauses(clean(memory)):
        subject = subject_of(clause) or ""
        apposition = re.fullmatch(rf"((?:[Mm]y|[Oo]ur)(?: [a-z'’-]+)+?) ({_NAME})((?:'s|’s) .+)?", subject)
        if apposition:  # "my son Eirik" -> "My son is called Eirik." and "Eirik ..."
            relation, name = apposition[1], apposition[2]
            facts.append(Fact(relation, f"{relation} is called {name}"))
            # "my daughter Lumi's birthday is ..." is about Lumi's birthday, not about Lumi.
            facts.append(Fact(name + (apposition[3] or ""), clause[len(relation) + 1:]))
        else:
            facts.append(Fact(subject or clause, clause))
    unique = {fact.text.lower(): fact for fact in facts}  # "... and plays" repeats the apposition
    return list(unique.values())
