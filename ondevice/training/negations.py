"""Questions for a negation: "I don't eat meat", "I never drive in the city", "I've never been
to Rome", "I can't swim butterfly".

Each gets a yes/no question answered "No" (the negation itself) and a question for what is not
done, asked with its own verb: a person tells several negations, so a generic "What do I never
do?" is one several memories answer, and such a question is neither trained nor probed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .english import Who, base_verb, is_past, key_value, object_and_tail, past_to_base

if TYPE_CHECKING:
    from .phrasing import _Builder

# Negations asked in their usual contracted form: "What do not I eat?" is no question.
_CONTRACTED = {"do not": "don't", "does not": "doesn't", "cannot": "can't"}


def ask_negation(pred: str, who: Who, build: "_Builder") -> bool:
    """Add a negation's questions and probe; False when `pred` is not a negation."""
    return _never_done(pred, who, build) or _negated(pred, who, build)


def _never_done(pred: str, who: Who, build: "_Builder") -> bool:
    """"have never set foot in the United States", "has never flown"."""
    never_done = re.fullmatch(r"(have|has) never\s+(\w+)\s*(.*)", pred, re.I)
    if not never_done:
        return False
    have, done = never_done[1].lower(), f"{never_done[2].lower()} {never_done[3]}".strip()
    value = key_value(done)
    build.train("negation.yes_no", "no", f"{have.title()} {who.q} ever {done}?",
                answer=f"No, {who.a} {have} never {done}.")
    build.train("negation.what", value, f"What {have} {who.q} never done?")
    build.probe("negation.remind", value, f"Is there anything {who.q} {have} never done?")
    return True


def _negated(pred: str, who: Who, build: "_Builder") -> bool:
    """"don't eat meat", "never drive in the city", "can't swim butterfly"."""
    negation = re.fullmatch(r"(don't|do not|doesn't|does not|never|can't|cannot)\s+(\w+)\s*(.*)", pred, re.I)
    if not negation:
        return False
    neg = _CONTRACTED.get(negation[1].lower(), negation[1].lower())
    negated_verb, obj = negation[2].lower(), negation[3]
    value = key_value(object_and_tail(obj)[0] or obj) if obj else negated_verb
    no = f"No, {who.a} {neg} {negated_verb} {obj}.".replace(" .", ".")
    past = neg == "never" and is_past(negated_verb)  # "never bought" asks "Did I buy"
    ask = "Can" if neg == "can't" else "Did" if past else "Do" if who.first else "Does"
    # "Did I learn", "Does he drink": the verb after never is in the past or the third person.
    asked_verb = (past_to_base(negated_verb) if past else base_verb(negated_verb, who)) if neg == "never" else negated_verb
    build.train("negation.yes_no", "no", f"{ask} {who.q} {asked_verb} {obj}?".replace(" ?", "?"), answer=no)
    if neg == "never":  # "What never I drive?" is no question: "What do I never open?", "Where do I never drive?"
        where = "Where" if re.match(r"(in|on|at|near)\b", obj, re.I) else "What"
        target = "" if where == "Where" else object_and_tail(obj)[0]
        specific = bool(target) or where == "Where"  # else only "What do I never do?" fits
        does = "did" if past else who.do
        build.train("negation.what", value, f"{where} {does} {who.q} never {asked_verb.split()[0] if specific else 'do'}?")
        build.probe("negation.remind", value, f"Is there {'anywhere' if where == 'Where' else 'anything'} {who.q} "
                                               f"never {negated_verb if specific else 'did' if past else does}?")
    else:
        build.train("negation.what", value, f"What {neg} {who.q} {negated_verb}?")
        build.probe("negation.remind", value, f"Is there anything {who.q} {neg} {negated_verb}?")
    return True
