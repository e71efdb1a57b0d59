"""English grammar the question templates need: person, verbs, subjects, answer values.

Kept apart from phrasing.py (which owns the question families) so each stays one concern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .facts import Fact, clean


# First person -> second person, word by word (lower-case keys; case is restored below).
_PRONOUNS = {
    "i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
    "i'm": "you're", "im": "you're", "i've": "you've", "i'd": "you'd",
    "i'll": "you'll", "our": "your", "we": "you", "us": "you", "we're": "you're",
    "ours": "yours", "we've": "you've",
}
_ARTICLE = re.compile(r"^(a|an|the|some|my|our)\s+", re.I)
# Words that open a noun phrase ("a", "my"): never a verb, and not part of the thing's name.
DETERMINERS = ("a", "an", "the", "my", "our", "his", "her", "their", "your")
NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen "
              "fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty "
              "fifty sixty seventy eighty ninety hundred first second third fourth fifth sixth "
              "seventh eighth ninth tenth eleventh twelfth").split()
MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
TIME_PHRASE = re.compile(r"\b(every \w+(?: \w+)?|on (?:mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|"
                         rf"sundays|weekends)|(?:next|this|last) \w+|in (?:{MONTHS}|\d{{4}})|once a \w+|twice a \w+|"
                         r"each \w+)\b", re.I)
_PLACE_PREP = re.compile(r"^(in|on|at|near|to|from|along|by)\b", re.I)
_CAP = re.compile(r"[A-ZÀ-ÖØ-ÞĀ-ſ][\w'’.-]*")


def second_person(text: str) -> str:
    """'My cat is called Miso' -> 'Your cat is called Miso' (pronouns only; rest untouched)."""

    def swap(match: re.Match) -> str:
        word = match.group(0)
        other = _PRONOUNS.get(word.lower())
        if other is None:
            return word
        return other.capitalize() if word[0].isupper() and match.start() == 0 else other

    # The verb agrees only after "I": "I was" -> "you were", but "Gerd was" stays.
    text = re.sub(r"\b(I|we) (was|am)\b", lambda m: f"{m[1]} {'were' if m[2] == 'was' else 'are'}", text)
    return re.sub(r"[A-Za-z']+", swap, text)


def sentence(text: str) -> str:
    text = clean(text)
    return text[:1].upper() + text[1:] + "."


def key_value(phrase: str) -> str:
    """The word(s) a correct answer must contain: a name or number if there is one, else the
    last word ('an old Nikon film camera' -> 'Nikon', 'a red kayak' -> 'kayak')."""
    words = [w.strip("\"'(),") for w in _ARTICLE.sub("", clean(phrase)).split()]
    words = [w for w in words if w]
    for i, word in enumerate(words):
        if re.fullmatch(r"\d[\d.,:]*(?:st|nd|rd|th)?", word) or word.lower() in NUMBER_WORDS:
            return word
        if _CAP.fullmatch(word) and word.lower() not in {"i", "i'm"}:
            names = [word]
            for nxt in words[i + 1:]:  # "Midnight Sun Marathon", "Dr. Halvorsen"
                if not _CAP.fullmatch(nxt):
                    break
                names.append(nxt)
            return " ".join(names[:2])
    return words[-1] if words else clean(phrase)


@dataclass(frozen=True)
class Who:
    """How a question names the fact's subject, and how the answer does."""

    q: str  # "I", "my son", "Eirik"
    a: str  # "you", "your son", "Eirik"
    do: str  # "do" / "does"
    be: str  # "am" / "is" / "are"
    poss: str  # "my" / "my son's" / "Eirik's"
    first: bool  # the user (or "we")


def who_of(subject: str) -> Who:
    low = subject.lower()
    if low in {"i", "i'm"}:
        return Who("I", "you", "do", "am", "my", True)
    if low in {"we", "we're"}:
        return Who("we", "you", "do", "are", "our", True)
    answer = second_person(subject)
    q = subject[:1].lower() + subject[1:] if low.startswith(("my ", "our ")) else subject
    a = answer[:1].lower() + answer[1:] if low.startswith(("my ", "our ")) else answer
    last = low.split()[-1] if low.split() else ""
    # "Where do my parents live?": a plural after my/our ("my boss", "my bus" are not plural).
    plural = low.startswith(("my ", "our ")) and (last in {"children", "people", "kids"} or (
        last.endswith("s") and not last.endswith(("ss", "us", "is", "'s", "’s"))))
    return Who(q, a, "do" if plural else "does", "are" if plural else "is", q + ("'" if plural and q.endswith("s") else "'s"), False)


def split_subject(fact: Fact) -> tuple[str, str]:
    """(time before the subject, predicate) of a fact: "Every evening I walk Pixel" ->
    ("every evening", "walk Pixel"); contractions open up ("I'm" -> "am ...")."""
    text = fact.text
    words = text.split()
    if fact.subject in {"I", "we"}:
        for i, word in enumerate(words):
            low = word.lower()
            if low in {"i", "we"}:
                return " ".join(words[:i]).lower(), " ".join(words[i + 1:])
            for short, full in (("i'm", "am"), ("we're", "are"), ("i've", "have"), ("we've", "have"),
                                ("i'd", "would"), ("i'll", "will")):
                if low == short:
                    return " ".join(words[:i]).lower(), " ".join([full] + words[i + 1:])
    return "", text[len(fact.subject):].strip()


def base_verb(verb: str, who: Who) -> str:
    """The infinitive a question needs after do/does ("lives" -> "live", "has" -> "have")."""
    low = verb.lower()
    if who.first:
        return low
    irregular = {"has": "have", "does": "do", "goes": "go", "is": "be"}
    if low in irregular:
        return irregular[low]
    if low.endswith("ies"):
        return low[:-3] + "y"
    if low.endswith(("ches", "shes", "sses", "xes")):
        return low[:-2]
    return low[:-1] if low.endswith("s") and not low.endswith("ss") else low


def object_and_tail(rest: str) -> tuple[str, str]:
    """Split a verb's complement into its object and the rest ("tomatoes", "on my balcony")."""
    match = re.search(r"\s(in|on|at|near|to|from|along|with|for|every|each|before|after|during|"
                      r"about|a week|a day|once|twice)\b", " " + rest)
    if not match or match.start() == 0:
        return rest, ""
    cut = match.start() - 1
    return rest[:cut].strip(), rest[cut:].strip()


# Simple pasts a memory may use, with the base a "did" question needs ("Where did I buy ...?").
IRREGULAR_PAST = {
    "grew": "grow", "got": "get", "ran": "run", "went": "go", "took": "take", "swam": "swim", "had": "have",
    "bought": "buy", "made": "make", "met": "meet", "found": "find", "saw": "see", "gave": "give",
    "wrote": "write", "sold": "sell", "built": "build", "left": "leave", "won": "win", "lost": "lose",
    "began": "begin", "became": "become", "broke": "break", "came": "come", "drove": "drive", "flew": "fly",
    "knew": "know", "paid": "pay", "sang": "sing", "spent": "spend", "taught": "teach", "told": "tell",
    "wore": "wear", "caught": "catch", "fell": "fall", "felt": "feel", "kept": "keep", "rode": "ride",
}


def is_past(verb: str) -> bool:
    """A simple past ("learned", "bought"), so its question takes "did" ("need" is not one)."""
    low = verb.lower()
    return (low.endswith("ed") and not low.endswith("eed")) or low in IRREGULAR_PAST


def past_to_base(verb_phrase: str) -> str:
    first, _, rest = verb_phrase.partition(" ")
    if first in IRREGULAR_PAST:
        return f"{IRREGULAR_PAST[first]} {rest}".strip()
    base = first[:-2] if first.endswith("ed") else first
    if first.endswith("ied"):
        base = first[:-3] + "y"
    elif first.endswith(("ved", "ated", "oted", "uted")):  # moved, graduated, voted; not visited, waited
        base = first[:-1]
    return f"{base} {rest}".strip()
