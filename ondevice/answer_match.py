"""Whether an answer gives an expected word: folded case and accents, at a word start, a number
whole. Shared by the gate's general-question check and the benches' development set."""

from __future__ import annotations

import re
import unicodedata

# Letters NFKD does not split into base + accent.
_FOLD = str.maketrans({"ø": "o", "æ": "ae", "ß": "ss", "đ": "d", "ł": "l", "œ": "oe", "’": "'"})
SHORT = 3  # letters up to which a keyword is a whole word, never a stem


def fold(text: str) -> str:
    """Lower case without accents, so 'Tromsø', 'Tromso' and 'TROMSØ' compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_FOLD))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def contains(text: str, keyword: str) -> bool:
    """Whether folded `text` holds folded `keyword` as a word.

    At a word start, so "no" does not match "know". The end is open for a stem ("biolog" matches
    "biologist"), but a number is whole ("2" is not "2010"; "14" is "14th") and a word of three
    letters or fewer is whole but for a plural ("Liv" is not "lives", "O" is not "Oslo").
    """
    if keyword[-1:].isdigit():
        end = r"(?![0-9])"
    elif len(keyword) <= SHORT:
        end = r"(?:s|es)?(?![^\W_])"
    else:
        end = ""
    return re.search(r"(?<![^\W_])" + re.escape(keyword) + end, text) is not None


def gives_any(answer: str, alternatives: list[str] | tuple[str, ...]) -> bool:
    """Whether `answer` gives one of `alternatives` (spellings of one right answer)."""
    text = fold(answer)
    return any(contains(text, fold(alt)) for alt in alternatives)
