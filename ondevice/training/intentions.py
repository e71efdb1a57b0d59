"""Questions for a plan or a wish: "I'm going to ask Dr. Halvorsen for a sabbatical", "We are
thinking of getting a second dog", "I want to write a children's book".

What is planned is the verb after the intention, so the question names it ("What am I going to
ask?"): a person has several plans, and a generic "What am I going to do?" is one several
memories answer (then neither trained nor probed); it is kept as the second wording.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .english import DETERMINERS, Who, base_verb, key_value

if TYPE_CHECKING:
    from .phrasing import _Builder

# "going to ask", "planning to build", "thinking of getting": an intention and its verb.
_INTENT = re.compile(r"(going|planning|hoping|thinking) (to|of|about) (\w+)\s*(.*)", re.I)


def ask_intention(doing: str, who: Who, time: str, build: "_Builder") -> bool:
    """Questions for "going to ask ...", "thinking of getting ..." (`doing`: the predicate after
    am/is/are); False for anything else ("going to a conference" is a trip, not a verb)."""
    intent = _INTENT.fullmatch(doing)
    if not intent or intent[3].lower() in DETERMINERS:
        return False
    verb, prep, verb_planned = intent[1].lower(), intent[2].lower(), intent[3].lower()
    act = "doing" if prep != "to" else "do"
    value = key_value(intent[4] or intent[3])
    build.train("intent.what", value, f"What {who.be} {who.q} {verb} {prep} {verb_planned}?",
                f"What {who.be} {who.q} {verb} {prep} {act}?")
    build.probe("intent.remind", value, f"Do you know what {who.q} {who.be} {verb} {prep} {verb_planned}?")
    if time:
        build.train("doing.when", key_value(time), f"When {who.be} {who.q} {verb} {prep} {verb_planned} {intent[4]}?".replace(" ?", "?"))
    return True


def ask_wish(pred: str, who: Who, time: str, build: "_Builder") -> bool:
    """Questions for "want to buy an electric car", "would like to learn Italian"; False otherwise."""
    wish = re.fullmatch(r"(wants?|hopes?|would like) to (\w+)\s*(.*)", pred, re.I)
    if not wish:
        return False
    wants = "would like" if wish[1].lower() == "would like" else base_verb(wish[1], who)
    ask = f"What would {who.q} like" if wants == "would like" else f"What {who.do} {who.q} {wants}"
    value = key_value(wish[3] or wish[2])
    build.train("intent.what", value, f"{ask} to {wish[2].lower()}?", f"{ask} to do?")
    build.probe("intent.remind", value, f"Do you know what {who.q} {wish[1].lower()} to {wish[2].lower()}?")
    if time:
        build.train("doing.when", key_value(time), f"When {who.do} {who.q} {wants} to {wish[2].lower()} {wish[3]}?".replace(" ?", "?"))
    return True
