"""The development set (bench/data/devset.txt): memories, questions in a person's own words,
and the keywords a correct answer must contain. Loaded and scored here, for the learning bench.

The set is written independently of the training generator, so recall on it says whether what
the weights hold answers a person's own words, not whether the model memorised our templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ondevice.answer_match import contains as _contains
from ondevice.answer_match import fold

DEVSET = Path(__file__).resolve().parent / "data" / "devset.txt"


@dataclass(frozen=True)
class DevQuestion:
    question: str
    keywords: tuple[tuple[str, ...], ...]  # every group must match; any alternative in a group

    def answered_by(self, answer: str) -> bool:
        """True when the answer contains one alternative of every keyword group, and does not
        open with "Yes" where the answer is no, or "No" where it is yes ("Yes, you should
        recommend a TV series" once passed on its "TV")."""
        text = fold(answer)
        opening = re.match(r"\W*(yes|no)\b", text)
        if opening and self._accepts("no" if opening[1] == "yes" else "yes"):
            return False
        return all(any(_contains(text, fold(alt)) for alt in group) for group in self.keywords)

    def _accepts(self, word: str) -> bool:
        return any(word in (alt.lower() for alt in group) for group in self.keywords)


@dataclass(frozen=True)
class DevMemory:
    shape: str
    text: str
    questions: tuple[DevQuestion, ...]


def load(path: Path = DEVSET) -> list[DevMemory]:
    """Every memory of the set, in file order (rounds of one memory per shape).

    Raises:
        ValueError: a line is not in the set's format (with its line number).
    """
    memories: list[DevMemory] = []
    current: tuple[str, str, list[DevQuestion]] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            if current:
                memories.append(DevMemory(current[0], current[1], tuple(current[2])))
            shape, sep, text = line[1:].partition("|")
            if not sep or not text.strip():
                raise ValueError(f"{path.name}:{number}: a memory line is '@ SHAPE | text'")
            current = (shape.strip(), text.strip(), [])
        elif line.startswith("?") and current:
            question, sep, answer = line[1:].partition("=>")
            groups = tuple(tuple(a.strip() for a in g.split("|") if a.strip()) for g in answer.split("&"))
            if not sep or not question.strip() or not all(groups):
                raise ValueError(f"{path.name}:{number}: a question line is '? question => KEYWORDS'")
            current[2].append(DevQuestion(question.strip(), groups))
        else:
            raise ValueError(f"{path.name}:{number}: expected '@ SHAPE | memory' or '? question => answer'")
    if current:
        memories.append(DevMemory(current[0], current[1], tuple(current[2])))
    return memories


def first(n: int, path: Path = DEVSET) -> list[DevMemory]:
    """The first n memories: the file's rounds make any prefix balanced across shapes.

    Raises:
        ValueError: n is more than the set holds.
    """
    memories = load(path)
    if n > len(memories):
        raise ValueError(f"the development set has {len(memories)} memories, not {n}")
    return memories[:n]


@dataclass(frozen=True)
class DevScore:
    rate: float
    hits: int
    total: int
    by_shape: dict[str, float]
    memories_recalled: int  # memories whose every question was answered


def score(memories: list[DevMemory], answers: list[list[str]]) -> DevScore:
    """Score answers[i][j], the answer to memories[i].questions[j]."""
    hits = total = recalled = 0
    shape_hits: dict[str, list[int]] = {}
    for memory, replies in zip(memories, answers, strict=True):
        ok = [q.answered_by(a) for q, a in zip(memory.questions, replies, strict=True)]
        hits += sum(ok)
        total += len(ok)
        recalled += all(ok)
        tally = shape_hits.setdefault(memory.shape, [0, 0])
        tally[0] += sum(ok)
        tally[1] += len(ok)
    by_shape = {shape: h / t for shape, (h, t) in sorted(shape_hits.items())}
    return DevScore(hits / total if total else 0.0, hits, total, by_shape, recalled)


def score_subset(memories: list[DevMemory], answers: list[list[str]], keep: list[list[bool]]) -> DevScore:
    """score() over only the questions whose keep[i][j] is True."""
    chosen = [(DevMemory(m.shape, m.text, tuple(q for q, k in zip(m.questions, ks) if k)),
               [a for a, k in zip(replies, ks) if k]) for m, replies, ks in zip(memories, answers, keep)]
    chosen = [(m, a) for m, a in chosen if m.questions]
    return score([m for m, _ in chosen], [a for _, a in chosen])
