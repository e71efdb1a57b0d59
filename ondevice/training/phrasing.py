"""Turn one memory into questions and answers, by atomic fact, in template families.

A memory is split into atomic facts (facts.py). Each fact is recognised by the shape of its
predicate (a name, a favourite, an age, a job, where someone lives, an allergy, a plan, a
negation, any verb with its object...) and gets questions from several template *families*.
Families are either TRAIN or PROBE, never both, by construction: the gate's probes are worded in
a way no training question ever was, so the gate measures knowledge, not memorised templates.
Every fact also gets entity-centred ("What do you know about my son?") and reverse ("Who is
Eirik?") questions, so the fact is reachable from both of its ends (Physics of LMs 3.1: facts are
extractable only when seen in several restatements).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .english import (
    MONTHS, NUMBER_WORDS, TIME_PHRASE, base_verb, is_past, key_value, object_and_tail, past_to_base, second_person,
    sentence, split_subject, who_of,
)
from .facts import Fact, atomic_facts, clean
from .intentions import ask_intention, ask_wish
from .negations import ask_negation
from .verb_objects import ask_perfect, ask_where_or_when, ask_which

@dataclass(frozen=True)
class Question:
    """One question about a fact, its answer, and the value a correct answer must contain."""

    text: str
    answer: str
    expected: str
    family: str  # the template family ("name.direct"); PROBE families are never trained


@dataclass(frozen=True)
class Phrasings:
    """Everything derived from one memory."""

    statement: str  # the memory, cleaned: "My son Eirik is four years old."
    answer: str  # the whole memory in the second person: "Your son Eirik is four years old."
    trained: tuple[Question, ...]
    probes: tuple[Question, ...]
    names: tuple[tuple[str, str], ...] = field(default=())  # (relation, name): "your son", "Eirik"


class _Builder:
    """Collects one fact's questions into TRAIN and PROBE families."""

    def __init__(self, answer: str):
        self.answer = answer
        self.trained: list[Question] = []
        self.probes: list[Question] = []

    def train(self, family: str, expected: str, *texts: str, answer: str | None = None) -> None:
        for i, text in enumerate(texts):
            self.trained.append(Question(text, answer or self.answer, expected, f"{family}.{i}"))

    def probe(self, family: str, expected: str, *texts: str, answer: str | None = None) -> None:
        for i, text in enumerate(texts):
            self.probes.append(Question(text, answer or self.answer, expected, f"probe.{family}.{i}"))


def _fact_questions(fact: Fact, build: _Builder, names: list[tuple[str, str]]) -> None:
    who = who_of(fact.subject)
    time, pred = split_subject(fact)
    if not pred.strip() or not fact.subject.strip():  # "Lumi", "日本語...": no shape to ask about
        return
    low = pred.lower()
    subject_low = fact.subject.lower()

    # A name: "my daughter is called Lumi", "my partner's name is Jonas", "my boss is Dr. Halvorsen".
    named = re.fullmatch(r"(?:is|are|was) (?:called|named) (.+)", pred, re.I)
    if not named and subject_low.endswith("'s name"):
        named = re.fullmatch(r"is (.+)", pred, re.I)
        who = who_of(fact.subject[: -len("'s name")])
    if not named and not who.first and subject_low.startswith(("my ", "our ")) and "favourite" not in subject_low:
        named = re.fullmatch(r"is ((?:Dr\.|Mr\.|Mrs\.|Ms\.)?\s*[A-ZÀ-ÖØ-ÞĀ-ſ][\w'’-]*(?: [A-ZÀ-ÖØ-ÞĀ-ſ][\w'’-]*)?)", pred)
    if named and not who.first:
        name = clean(named[1])
        relation = who.q
        answer = f"{who.a[:1].upper() + who.a[1:]} is called {name}."
        build.train("name.what", key_value(name), f"What is {relation} called?", f"What's the name of {relation}?",
                    f"What is {who.poss} name?", f"Who is {relation}?", answer=answer)
        build.probe("name.remind", key_value(name), f"Do you remember what {relation} is called?",
                    f"Can you tell me {who.poss} name?", answer=answer)
        role = relation.split()[-1]
        reverse = f"{name} is {who.a}."
        build.train("name.reverse", role, f"Who is {name}?", f"Tell me who {name} is.", f"Have I told you who {name} is?",
                    answer=reverse)
        build.probe("name.reverse", role, f"Do you know who {name} is?", answer=reverse)
        names.append((who.a, name))
        return

    # A favourite: "my favourite band is Radiohead".
    favourite = re.fullmatch(r"(?:my|our) favourite (.+)", subject_low)
    if favourite and re.match(r"(?:is|are) ", low):
        thing, value = favourite[1], pred.split(" ", 1)[1]
        mine = "my" if subject_low.startswith("my") else "our"
        me = "I" if mine == "my" else "we"
        build.train("favourite.what", key_value(value), f"What is {mine} favourite {thing}?",
                    f"Which {thing} do {me} like best?", f"What {thing} do {me} like most?")
        build.probe("favourite.remind", key_value(value), f"Do you remember {mine} favourite {thing}?",
                    f"Which {thing} is {mine} number one?")
        return

    verb, _, rest = pred.partition(" ")
    verb_low = verb.lower()

    # Ages and measures: "Eirik is four years old", "I'm 1.72 metres tall", "Lumi is seven".
    measure = re.fullmatch(r"(?:is|am|are) (?:about |around )?([\d.,]+|" + "|".join(NUMBER_WORDS)
                           + r")(?: (?:years?|metres?|meters?|cm|kilos?|kg)?\s*(\w+))?", low)
    if measure:
        adjective = measure[2] or "old"
        value = key_value(rest)
        build.train("measure.how", value, f"How {adjective} {who.be} {who.q}?", f"What is {who.poss} {'age' if adjective == 'old' else 'height' if adjective == 'tall' else adjective}?")
        build.probe("measure.remind", value, f"Do you know how {adjective} {who.q} {who.be}?")
        return

    # Allergies and other "I'm <adjective> to X".
    allergy = re.fullmatch(r"(?:am|is|are) allergic to (.+)", pred, re.I)
    if allergy:
        value = key_value(allergy[1])
        build.train("allergy.what", value, f"What {who.be} {who.q} allergic to?", f"{'Do' if who.first else 'Does'} {who.q} have any allergies?",
                    f"Which allergy {who.do} {who.q} have?")
        build.probe("allergy.remind", value, f"Is there anything {who.q} {who.be} allergic to?",
                    f"What should {who.q} avoid because of an allergy?")
        return

    if ask_negation(pred, who, build):
        return

    # Being something: a job or role ("Tomas is an airline pilot", "Kjell used to be a ferry captain"),
    # a place ("Nadia is from Casablanca"), or a trait ("I'm lactose intolerant", "I'm learning Japanese").
    used_to = re.fullmatch(r"used to be (?:a |an )?(.+)", low)
    role = used_to or re.fullmatch(r"(?:is|am|are|was|were) (?:a|an) (.+)", pred, re.I)
    if role:
        past = bool(used_to) or verb_low in {"was", "were"}
        value = key_value(object_and_tail(role[1])[0])
        did = "did" if past else who.do
        build.train("role.what", value, f"What {did} {who.q} do?", f"What {'was' if past else who.be} {who.poss} job?",
                    f"Who {'was' if past else who.be} {who.q}?" if not who.first else f"What {did} {who.q} do for work?")
        build.probe("role.remind", value, f"What {did} {who.q} do for a living?", f"What kind of work {did} {who.q} do?")
        return
    place = re.fullmatch(r"(?:is|are|was|am) (from|in|on|near|at) (.+)", pred, re.I)
    if place:
        prep, where = place[1].lower(), place[2]
        value = key_value(where)
        if prep == "from":
            build.train("from.where", value, f"Where {who.be} {who.q} from?", f"Where {who.do} {who.q} come from?")
            build.probe("from.remind", value, f"Which place {who.be} {who.q} originally from?")
        else:
            when = re.match(r"(?:the )?\d|(?:the )?(?:first|second|third|\d+(?:st|nd|rd|th))", where, re.I) and re.search(MONTHS, where, re.I)
            ask = "When" if when or who.q.lower().endswith(("birthday", "anniversary", "wedding")) else "Where"
            build.train("place.where", value, f"{ask} {who.be} {who.q}?", f"Tell me {ask.lower()} {who.q} {who.be}.")
            build.probe("place.remind", value, f"Do you know {ask.lower()} {who.q} {who.be}?")
        return
    going = re.fullmatch(r"(?:am|is|are) (\w+ing)\s*(.*)", pred, re.I)
    if going and ask_intention(f"{going[1]} {going[2]}", who, time, build):
        return
    if going:
        doing, obj = going[1].lower(), going[2]
        target, tail = object_and_tail(obj)
        if re.match(r"(?:for|about) \S", target, re.I):  # "applying for a grant": asked what for
            prep, rest = target.split(" ", 1)
            doing, target = f"{doing} {prep.lower()}", rest
        if target.lower().startswith(("to ", "in ")) and not tail:
            target, tail = "", target
        value = key_value(target or tail or doing)
        where = "Where" if tail.lower().startswith("to ") and not target else "What"
        # "at the moment" only for what is going on now, not for "Next spring I'm travelling".
        now = f"{where} {who.be} {who.q} {doing} at the moment?" if not time else f"Tell me {where.lower()} {who.q} {who.be} {doing}."
        build.train("doing.what", value, f"{where} {who.be} {who.q} {doing}?", now)
        build.probe("doing.remind", value, f"Do you know {where.lower()} {who.q} {who.be} {doing}?")
        if time:
            build.train("doing.when", key_value(time), f"When {who.be} {who.q} {doing} {obj}?".replace("  ", " "))
        return
    trait = re.fullmatch(r"(?:am|is|are) (not )?(.+)", pred, re.I)
    if trait:  # only a yes/no question fits "I'm lactose intolerant" without giving it away
        negated, quality = bool(trait[1]), trait[2]
        word = "no" if negated else "yes"
        reply = f"{word.capitalize()}, {who.a} {'are' if who.first else 'is'} {'not ' if negated else ''}{quality}."
        build.train("trait.yes_no", word, f"{who.be.capitalize()} {who.q} {quality}?", answer=reply)
        build.probe("trait.remind", word, f"Would you say {who.q} {who.be} {quality}?", answer=reply)
        return

    if ask_wish(pred, who, time, build) or ask_perfect(pred, who, build):
        return

    # Any other verb: "I drive a Subaru Outback", "I play the cello", "Zoë paints",
    # "I swim in the sea every Sunday morning", "I was born in 1987".
    base = base_verb(verb, who)
    if verb_low in {"was", "were"} and rest.lower().startswith("born"):
        value = key_value(rest[len("born"):])
        was = "were" if who.q == "we" else "was"
        build.train("born.when", value, f"When {was} {who.q} born?",
                    f"What year {was} {who.q} born?" if re.search(r"\d{4}", rest) else f"When is {who.poss} birthday?")
        build.probe("born.remind", value, f"Do you know when {who.q} {was} born?")
        return
    particle = re.match(r"(up in|up|in|at|on|near|along|to|from|as|for)\b\s*(.*)", rest, re.I)
    time_match = TIME_PHRASE.search(pred) or (TIME_PHRASE.search(time) if time else None)
    did = "did" if is_past(verb_low) else who.do
    q_base = base if did != "did" else past_to_base(base)
    says = verb if who.first else verb_low  # "I drive" / "Jonas drives"
    if particle and particle[1].lower() not in {"as", "for"}:  # "live in X", "swim in the sea ..."
        where, tail = object_and_tail(particle[2])
        value = key_value(where)
        verb_words = f"{q_base} up" if particle[1].lower().startswith("up") else q_base
        said = f"{says} up" if particle[1].lower().startswith("up") else says
        build.train("verb.where", value, f"Where {did} {who.q} {verb_words}?", f"In which place {did} {who.q} {verb_words}?")
        build.probe("verb.where.remind", value, f"Do you remember where {who.q} {said}?")
        obj = f"{particle[1].lower()} {where}"
    else:
        if particle:  # "work as a nurse": the role is the object
            q_base, says = f"{q_base} {particle[1].lower()}", f"{says} {particle[1].lower()}"
        obj, tail = object_and_tail(particle[2] if particle else rest)
        amount = re.match(r"(?:about |around )?([\d.,]+|" + "|".join(NUMBER_WORDS) + r")\s+(\w+)", obj, re.I)
        value = key_value(obj) if obj else q_base.split()[0]
        if amount:  # "run about 40 kilometres a week", "drink four cups of coffee a day"
            build.train("verb.how_many", value, f"How many {amount[2]} {did} {who.q} {q_base}{' ' + tail if tail else ''}?")
            build.probe("verb.how_many.remind", value, f"Do you know how many {amount[2]} {who.q} {says}?")
        elif obj:
            build.train("verb.what", value, f"What {did} {who.q} {q_base}{' ' + tail if tail else ''}?",
                        f"What {did} {who.q} {q_base}?")
            if verb_low in {"play", "plays"} and obj.lower().startswith("the "):
                build.train("verb.instrument", value, f"What instrument {did} {who.q} play?")
            ask_which(obj, f"{did} {who.q} {q_base}", f"{who.q} {says}", who, build)
            ask_where_or_when(obj, tail, f"{did} {who.q} {q_base} {obj}", bool(time_match), build)
            # With its tail too: among 200 memories "what I have" has many answers and is dropped
            # as ambiguous, while "what I have in my study" still asks for one fact.
            build.probe("verb.what.remind", value, f"Do you remember what {who.q} {says}?",
                        *([f"Do you remember what {who.q} {says} {tail}?"] if tail else []))
        yes = f"Yes, {who.a} {says} {second_person(particle[2] if particle else rest)}."
        build.train("verb.yes_no", "yes", f"{did.capitalize()} {who.q} {q_base} {obj}?".replace(" ?", "?"), answer=yes)
    if time_match:
        build.train("verb.when", key_value(time_match[0]), f"When {did} {who.q} {q_base} {obj}?".replace(" ?", "?"))
        build.train("verb.do_when", q_base.split()[0], f"What {did} {who.q} do {time_match[0].lower()}?")
    if not obj and not particle:  # "Zoë paints"
        build.train("verb.do", q_base.split()[0], f"What {did} {who.q} do?")
        build.probe("verb.do.remind", q_base.split()[0], f"What {did} {who.q} like to do?")
    if not who.first:
        build.train("entity.about", value, f"What do you know about {who.q}?")


def phrase(memory: str) -> Phrasings:
    """Questions and answers for one memory, whatever its shape.

    Args:
        memory: a short sentence the user said about themselves (or about people they know).

    Returns:
        The statement, the whole answer, trained questions and held-out probes (at least one
        of each: an unrecognised fact still gets "what did I tell you about ..." questions),
        and the (relation, name) pairs it defines.
    """
    statement = sentence(memory)
    told = second_person(clean(memory))
    whole = told[:1].upper() + told[1:] + "."
    facts = atomic_facts(memory)
    build = _Builder(whole)
    names: list[tuple[str, str]] = []
    for fact in facts:
        told_fact = second_person(clean(fact.text))
        build.answer = told_fact[:1].upper() + told_fact[1:] + "." if len(facts) > 1 else whole
        _fact_questions(fact, build, names)
    build.answer = whole
    # The whole memory, reachable from its main name or value (entity-centred / restatement).
    # Anchored on a fact, not a yes/no ("What did I tell you about myself?" expecting "no" was
    # dropped as unanswerable, so negations had one question fewer).
    found = [q.expected for q in build.trained + build.probes if q.expected.lower() not in ("yes", "no")]
    anchor = found[0] if found else key_value(_without_subject(memory))
    build.train("memory.about", anchor, f"What did I tell you about {_topic(memory)}?")
    build.probe("memory.remind", anchor, f"Remind me what I said about {_topic(memory)}.")
    trained = _answerable(build.trained)
    probes = _answerable(build.probes)
    return Phrasings(statement, whole, tuple(trained), tuple(probes), tuple(names))


def confirmations(wordings: Phrasings) -> tuple[Question, Question]:
    """A yes/no (trained, probe) pair for a memory all of whose questions were ambiguous: every
    memory is taught and probed, even when nothing better can be asked."""
    asked = wordings.statement.rstrip(".")
    asked = asked if re.match(r"I\b", asked) else asked[:1].lower() + asked[1:]  # "I'm" stays
    yes = f"Yes. {wordings.answer}"
    return (Question(f"Is it true that {asked}?", yes, "yes", "confirm.true"),
            Question(f"Did I tell you that {asked}?", yes, "yes", "probe.confirm.told"))


def _without_subject(memory: str) -> str:
    """The memory after its subject: "What did I tell you about Jonas?" cannot expect "Jonas"."""
    subject = atomic_facts(memory)[0].subject
    return memory[len(subject):] if memory.lower().startswith(subject.lower()) else memory


def _topic(memory: str) -> str:
    """What a memory is about, named without its answer: 'my son', 'Lumi', or 'myself'."""
    first = atomic_facts(memory)[0]
    subject = first.subject
    if subject.lower() in {"i", "we"}:
        return "myself" if subject.lower() == "i" else "us"
    return subject[:1].lower() + subject[1:] if subject.lower().startswith(("my ", "our ")) else subject


def _answerable(questions: list[Question]) -> list[Question]:
    """Questions whose expected value is in their answer but not in the question itself (a
    question that gives its answer away measures nothing), each wording once."""
    from unicodedata import normalize

    def fold(text: str) -> str:
        return normalize("NFKD", text.lower())

    seen: set[str] = set()
    kept = []
    for question in questions:
        key = question.text.lower()
        if key in seen or fold(question.expected) not in fold(question.answer) or fold(question.expected) in fold(question.text):
            continue
        seen.add(key)
        kept.append(question)
    return kept
