"""Questions about what a verb acts on: the thing it names ("Which camera do I have?"), where or
when it is done ("Where do we spend Christmas?", "When do I do yoga?"), and present perfects
("What have I run?"). "What do I have?" alone is one that many memories answer, so it is dropped
as ambiguous, and such a memory was left with only a yes/no question.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .english import DETERMINERS, MONTHS, TIME_PHRASE, Who, key_value, second_person

if TYPE_CHECKING:
    from .phrasing import _Builder

# A tail that says when, not where ("on Thursday evenings", "on the 30th of July").
_WHEN = re.compile(TIME_PHRASE.pattern + rf"|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                   rf"{MONTHS}|\d+(?:st|nd|rd|th))", re.I)

# Words that show the object runs on past its noun ("migraines when I sleep too little", "lupins
# more than any other flower") or is a person, not a thing ("It takes you 25 minutes").
_NOT_A_THING = re.compile(r"\b(?:I|you|me|him|her|them|us|when|that|who|than|more|back|all)\b", re.I)


def ask_which(obj: str, asked: str, told: str, who: Who, build: _Builder) -> None:
    """A question naming the thing ("Which camera do I have?" for "an old Nikon film camera",
    "What is my boat called?" for "a sailing boat called Måke"): "What do I have?" is one
    that many memories answer, so it is dropped as ambiguous and such a memory had only a yes/no."""
    words = obj.split()
    if words and words[0].lower() in DETERMINERS:
        words = words[1:]
    if "called" in words:
        cut = words.index("called")
        if 0 < cut < len(words) - 1:
            head, name = words[cut - 1], " ".join(words[cut + 1:])
            build.train("verb.called", key_value(name), f"What is {who.poss} {head} called?")
            build.probe("verb.called.remind", key_value(name), f"Do you know the name of {who.poss} {head}?")
        return
    best = re.fullmatch(r"(.+?) more than any other (\w+)", " ".join(words), re.I)
    if best:  # "lupins more than any other flower": which one, most
        build.train("verb.which", key_value(best[1]), f"Which {best[2]} {asked} most?")
        build.probe("verb.which.remind", key_value(best[1]), f"Do you know which {best[2]} {told} most?")
        return
    if len(words) < 2 or "of" in words or not words[-1][:1].islower():  # "the cello", "Subaru Outback"
        return
    if _NOT_A_THING.search(" ".join(words)) or asked.endswith((" as", " for")):  # "work as a marine biologist"
        return
    head, modifiers = words[-1], " ".join(words[:-1])
    build.train("verb.which", key_value(modifiers), f"Which {head} {asked}?")
    build.probe("verb.which.remind", key_value(modifiers), f"Do you know which {head} {told}?")


# "have run", "has visited", "have been": a present perfect, not a possession ("What do I have?").
_PERFECT = re.compile(r"(have|has) (\w{3,}ed|been|seen|done|run|won|read|made|had|met|found|bought|built|lost|swum|sung|"
                      r"taken|given|written|eaten|driven|ridden|broken|chosen|spoken|flown|grown|known)\s+(.+)", re.I)


def ask_perfect(pred: str, who: Who, build: _Builder) -> bool:
    """Questions for "I've run eleven marathons", "Jonas has been to Japan"; False otherwise."""
    perfect = _PERFECT.fullmatch(pred)
    if not perfect:
        return False
    have, done, rest = perfect[1].lower(), perfect[2].lower(), perfect[3]
    value = key_value(rest)
    ask = "Where" if rest.lower().startswith("to ") else "What"  # "been to Japan", "flown to Rome"
    build.train("perfect.what", value, f"{ask} {have} {who.q} {done}?")
    build.train("perfect.yes_no", "yes", f"{have.title()} {who.q} {done} {rest}?",
                answer=f"Yes, {who.a} {have} {done} {second_person(rest)}.")
    build.probe("perfect.remind", value, f"Do you remember {ask.lower()} {who.q} {have} {done}?")
    return True


def ask_where_or_when(obj: str, tail: str, asked: str, has_time: bool, build: _Builder) -> None:
    """"Where do we spend Christmas?" for "... at my parents' house"; "When do I do yoga?" for
    "... on Thursday evenings" (`asked`: "do we spend Christmas"; `has_time`: a time phrase
    already gets its When question)."""
    place = re.fullmatch(r"(?:in|at|on|near) (.+)", tail, re.I)
    if not place or re.search(r"\b(?:I|is|are)\b", obj):  # not "a tooth I found on a beach"
        return
    if not _WHEN.search(tail):
        build.train("verb.where", key_value(place[1]), f"Where {asked}?")
    elif not has_time:
        build.train("verb.when", key_value(tail), f"When {asked}?")
