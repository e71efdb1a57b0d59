"""Find what to remember in the user's words: explicit requests, and statements about themselves.

Pure text functions, no store: the memory service decides what to keep. Only the user's own
words count; quoted or pasted material (quotes, code, "> " lines, text after "this:") is cut out
first, because a poem or an e-mail the user pasted says nothing about the user.
"""

from __future__ import annotations

import re

# "remember that ...", "please remember: ...", "/remember ...", "can you remember that ...".
_EXPLICIT = [
    re.compile(r"^/remember\b[\s:,-]*(?P<what>.*)$", re.I | re.S),
    re.compile(r"^(?:please\s+)?(?:remember|don'?t\s+forget)\s*(?:that\b|this\b\s*:?|:)"
               r"\s*(?P<what>.*)$", re.I | re.S),
    re.compile(r"^(?:please\s+|can\s+you\s+|could\s+you\s+|would\s+you\s+|will\s+you\s+)+"
               r"(?:remember|note|keep\s+in\s+mind)\s*(?:that\b|this\b\s*:?|:)?\s*(?P<what>.*)$",
               re.I | re.S),
    # "Remember my cat is called Miso" / "Remember I prefer tea": a first-person statement.
    re.compile(r"^remember\s*,?\s+(?P<what>(?:my|i|i'm|i've|i'd|we|our|me)\b.*)$", re.I | re.S),
]
_TRAILING_POLITENESS = re.compile(
    r"[\s,]*(?:please|thanks|thank\s+you|ok(?:ay)?|for\s+me|for\s+later)?[\s.!?]*$", re.I
)

_FIRST_TO_SECOND = {
    "i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
    "i'm": "you're", "i've": "you've", "i'd": "you'd", "i'll": "you'll", "i am": "you are",
    "i was": "you were", "we": "you", "us": "you", "our": "your", "ours": "yours",
}

_PREFERENCE = re.compile(
    r"\b(prefer|like|love|enjoy|hate|dislike|can'?t\s+stand|favou?rite|rather)\b", re.I
)
_STYLE = re.compile(
    r"\b(answer|answers|reply|replies|respond|response|responses|tone|formal|informal|"
    r"concise|brief|bullet|emoji|call\s+me|address\s+me|speak|write)\b", re.I
)
_CORRECTION = re.compile(r"^(?:actually|no,|correction|that'?s\s+wrong|not\s+\w+,\s+but)\b", re.I)

# How often or how much: allowed between "I" and the verb ("I usually wake up at 5:30").
_ADVERB = r"(?:(?:really|usually|always|often|normally|mostly|still|already|also|currently|"\
          r"absolutely|definitely|generally)\s+)?"
# Statements about oneself worth proposing, and the kind each becomes.
_SELF_STATEMENTS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^my\s+(?:favou?rite\s+\w+(?:\s+\w+)?)\s+(?:is|are)\s+\S.*$", re.I), "preference"),
    (re.compile(r"^my\s+name\s+is\s+\S.*$", re.I), "fact"),
    (re.compile(r"^(?:my|our)\s+[\w' -]{1,40}?\s+(?:is|are|was|were)\s+(?:called\s+|named\s+)?\S.*$",
                re.I), "fact"),
    # "My partner Lumi works at the university", "My grandmother Eleni taught me to cook".
    (re.compile(r"^(?:my|our)\s+(?:\w+\s+){1,3}?" + _ADVERB + r"(?:works|lives|loves|likes|plays|"
                r"has|speaks|studies|taught|runs|drives|owns|teaches)\s+\S.*$", re.I), "fact"),
    (re.compile(r"^i\s+" + _ADVERB + r"(?:live|grew\s+up|was\s+born|work|study|studied)\s+"
                r"(?:in|at|for|as|on)\s+\S.*$", re.I), "fact"),
    (re.compile(r"^i(?:'ve|\s+have)\s+(?:lived|worked)\s+(?:in|at|for|as)\s+\S.*$", re.I), "fact"),
    (re.compile(r"^(?:i|we)\s+(?:just\s+|recently\s+)?moved\s+(?:to|from)\s+\S.*$", re.I), "fact"),
    (re.compile(r"^i\s+have\s+(?!(?:a|an)\s+(?:question|idea|problem|doubt|feeling|suggestion)\b)"
                r"(?:a|an|two|three|four|five|\d+|type\s+\d|asthma|diabetes|celiac|coeliac|"
                r"adhd|arthritis|migraines?|eczema)\b\s*\S.*$", re.I), "fact"),
    (re.compile(r"^(?:i\s+am|i'm)\s+(?:a|an)\s+\S.*$", re.I), "fact"),
    (re.compile(r"^(?:i\s+am|i'm)\s+\d+(?:\s+years?\s+old)?$", re.I), "fact"),
    (re.compile(r"^(?:i\s+am|i'm)\s+(?:from\s+\S|allergic\s+to\s+\S|(?:vegetarian|vegan|married|"
                r"single|left-handed|right-handed|retired|lactose)\b).*$", re.I), "fact"),
    (re.compile(r"^(?:i\s+am|i'm)\s+(?:learning|training\s+for|studying)\s+\S.*$", re.I), "fact"),
    (re.compile(r"^(?:i\s+am|i'm)\s+(?:not\s+)?(?:a\s+)?(?:big\s+|huge\s+)?fan\s+of\s+\S.*$", re.I),
     "preference"),
    (re.compile(r"^i\s+" + _ADVERB + r"(?:speak|drive|own|play|ride|run|swim|cycle|bike|cook|bake|"
                r"meditate|wake\s+up|get|go\s+to|take)\s+\S.*$", re.I), "fact"),
    (re.compile(r"^i\s+" + _ADVERB + r"(?:prefer|like|love|enjoy|hate|dislike|can't\s+stand)\s+\S.*$",
                re.I), "preference"),
    (re.compile(r"^i\s+(?:don't|do\s+not)\s+(?:like|eat|drink|drive|smoke)\s+\S.*$", re.I), "preference"),
    (re.compile(r"^i(?:'d|\s+would)\s+(?:like|prefer)\s+(?:you|your\s+answers)\s+to\s+\S.*$", re.I),
     "style"),
    (re.compile(r"^i(?:'d|\s+would)\s+like\s+(?:you\s+to\s+)?answer\S*\s+\S.*$", re.I), "style"),
]
# Sentences that look like statements but are about the moment, not the person.
_TRANSIENT = re.compile(
    r"\b(today|tonight|right\s+now|at\s+the\s+moment|going\s+to|gonna|trying|"
    r"wondering|looking\s+for|not\s+sure|asking|curious|if|would\s+you|could\s+you|"
    r"pretend|imagine|suppose|hypothetically|role-?play|this\s+story|the\s+character)\b", re.I
)
# "I love it", "I like that": no fact without the thing itself.
_PRONOUN_OBJECT = re.compile(
    r"^(?:i|we)\s+(?:\w+\s+){0,2}?(?:it|that|this|these|those|them|him|her|so|too)"
    r"(?:\s+(?:so\s+much|a\s+lot|thanks|thank\s+you|too))?$", re.I)
# Where a sentence holds a second statement: "..., and I play", "... but my son ...".
_CLAUSE_BREAK = re.compile(r",?\s+(?:and|but|so|while|because)\s+(?=(?:i|i'm|i've|my|we|our)\b)|"
                           r",\s+(?=(?:i|i'm|i've|my|we|our)\b)|\s+and\s+(?=(?:just|\w+ing)\b)", re.I)
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|„[^“”]*[“”]|«[^»]*»|(?<![A-Za-z])'[^'\n]{12,}'(?![A-Za-z])|`[^`]*`")
_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
MIN_WORDS, MAX_WORDS = 3, 25


def tidy(text: str) -> str:
    """Collapse whitespace; memories are one line."""
    return " ".join(text.split())


def normalize(text: str) -> str:
    """The form two memories are compared in: lower case, letters and digits only."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def explicit_request(text: str) -> str | None:
    """What an explicit "remember ..." message asks to remember.

    Args:
        text: the user's message.

    Returns:
        None when the message is not a request to remember; otherwise the thing to remember,
        first letter capitalised, trailing politeness removed ("" when nothing follows).
    """
    stripped = text.strip()
    for pattern in _EXPLICIT:
        match = pattern.match(stripped)
        if match is None:
            continue
        what = tidy(match.group("what"))
        if stripped.endswith("?") and not re.search(r"\bthat\b|:", stripped[: match.start("what")], re.I):
            return None  # "Can you remember my cat's name?" asks; it does not tell
        # "Do you remember that ...?" is a question, not a request; the patterns never match it.
        what = _TRAILING_POLITENESS.sub("", what).rstrip(" ,")
        if what.lower().startswith("that "):
            what = what[5:]
        return what[:1].upper() + what[1:]
    return None


def kind_of(text: str) -> str:
    """fact, preference, style or correction, from the wording of a memory."""
    if _CORRECTION.search(text):
        return "correction"
    if _STYLE.search(text) and re.search(r"\b(you|your|call\s+me|address\s+me)\b", text, re.I):
        return "style"
    if _PREFERENCE.search(text):
        return "preference"
    return "fact"


def second_person(text: str) -> str:
    """'My cat is called Miso' -> 'your cat is called Miso', for the confirmation."""

    def swap(match: re.Match) -> str:
        word = match.group(0)
        return _FIRST_TO_SECOND.get(" ".join(word.lower().split()), word)

    # "I am" / "I was" first, so "my cat was" keeps its verb.
    return re.sub(r"\bI\s+(?:am|was)\b|[A-Za-z']+", swap, text, flags=re.I)


def confirmation(memory: str) -> str:
    """The assistant's answer to an explicit request, echoing what it stored."""
    clean = memory.rstrip(" .!")
    if re.search(r"\b(you|your|yours)\b", clean, re.I) or not re.match(
        r"(my|i|i'm|i've|i'd|we|our)\b", clean, re.I
    ):
        return f"Got it — I'll remember that: “{clean}”."
    return f"Got it — I'll remember that {second_person(clean)}."


def own_words(message: str) -> str:
    """The user's own words in `message`: quotes, code and pasted blocks cut out.

    A line ending with ':' introduces pasted material ("Summarise this:"), so what follows it
    is dropped; so are '> ' quoted lines, fenced code and quoted strings.
    """
    text = _FENCE.sub(" ", message)
    kept: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith(">") or line.startswith(("    ", "\t")):
            continue
        kept.append(line)
        if line.rstrip().endswith(":"):
            break
    return _QUOTED.sub(" \u2026 ", "\n".join(kept))


def sentences(text: str) -> list[str]:
    return [tidy(s) for s in _SENTENCE_END.split(text) if s and s.strip()]


def is_fragment(sentence: str) -> bool:
    """"I love it", "I like that so much": a feeling about something the sentence doesn't name."""
    return _PRONOUN_OBJECT.match(sentence.rstrip(" .!")) is not None


def clauses(sentence: str) -> list[str]:
    """A sentence cut where a new subject starts: one fact per memory."""
    return [part.strip(" ,") for part in _CLAUSE_BREAK.split(sentence) if part.strip(" ,")]


def self_statements(message: str) -> list[tuple[str, str]]:
    """(statement, kind) for each sentence in which the user states something about themselves.

    Args:
        message: one user message (never an assistant's answer: those are not about the user).

    Returns:
        Statements as the user wrote them (first letter capitalised, no trailing punctuation),
        one fact each: a sentence with two statements gives two.
    """
    found = []
    for whole in sentences(own_words(message)):
        if whole.rstrip().endswith("?") or "\u2026" in whole:
            continue
        whole = re.sub(r"^(?:hi|hello|hey|oh|well|so|btw|by the way|also|and|fyi|haha|"
                       r"thanks|thank you|perfect|great|cold)[,!.\s]+", "", whole, flags=re.I)
        for sentence in clauses(whole.rstrip(" .!;,")):
            sentence = re.sub(r"^(?:haha|actually|also|btw)[,!\s]+", "", sentence, flags=re.I)
            sentence = re.sub(r",?\s+(?:thanks|thank you|please)$", "", sentence, flags=re.I).rstrip(" .!;,")
            words = sentence.split()
            if not MIN_WORDS - 1 <= len(words) <= MAX_WORDS or is_fragment(sentence):
                continue
            if _TRANSIENT.search(sentence) or explicit_request(sentence) is not None:
                continue
            for pattern, kind in _SELF_STATEMENTS:
                if pattern.match(sentence):
                    found.append((sentence[:1].upper() + sentence[1:], kind))
                    break
    return found


def content_words(text: str) -> frozenset[str]:
    """The words that carry a memory's meaning (for spotting paraphrases)."""
    return frozenset(w for w in normalize(text).split() if w not in _FILLER)


class KnownMemories:
    """Memories already stored or proposed, to keep a paraphrase from coming back as new
    ("I'm vegetarian" / "I am a vegetarian"): same content words, or almost all of them."""

    SAME = 0.75  # share of content words two memories must have in common

    def __init__(self, texts=()):
        self.exact: set[str] = set()
        self.words: list[frozenset[str]] = []
        for text in texts:
            self.add(text)

    def add(self, text: str) -> None:
        self.exact.add(normalize(text))
        self.words.append(content_words(text))

    def __contains__(self, text: str) -> bool:
        if normalize(text) in self.exact:
            return True
        words = content_words(text)
        return bool(words) and any(len(words & other) / len(words | other) >= self.SAME
                                   for other in self.words if other)


_FILLER = frozenset(
    "i i'm im am is are was were a an the my our me we you your m s ve really very also still "
    "currently usually always just to of in at on for and".split())


def propose_memories(messages: list[dict]) -> list[dict]:
    """Candidate memories from logged messages: the user's statements about themselves.

    Args:
        messages: message rows (role, content, and optionally id, conversation_id), in order.
            Assistant messages are skipped (its words are not facts about the user), and so are
            explicit "remember ..." requests (already stored when they were sent).

    Returns:
        {text, kind, source_message_id, source_conversation_id} per statement, deduplicated
        among themselves (the caller deduplicates against stored memories).
    """
    seen: set[str] = set()
    found = []
    for message in messages:
        content = message.get("content") or ""
        if message.get("role") != "user" or explicit_request(content) is not None:
            continue
        for text, kind in self_statements(content):
            key = normalize(text)
            if key in seen:
                continue
            seen.add(key)
            found.append({"text": text, "kind": kind, "source_message_id": message.get("id"),
                          "source_conversation_id": message.get("conversation_id")})
    return found
