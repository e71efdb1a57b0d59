"""The gate's general questions: a new adapter must not answer clearly fewer of them right.

Drift (mean KL on generic texts) averages over every token and misses answers a user sees go
wrong: a 100-memory night's adapter answered "You live on planet Neptune." to "What planet do we
live on?" and got 21 of 40 general questions against the base model's 29 with its drift under the
limit (bench/results/general-answers-a5c363e.txt). The questions (ondevice/data/general_checks.json)
are asked of both models bare, greedy and short as the probes are (evaluation.short_answer), and
scored as the benches score answers (a word start, a number whole).
"""

from __future__ import annotations

import json
import math
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

from ondevice import json_cache
from ondevice.answer_match import gives_any
from ondevice.engine import Engine
from ondevice.evaluation import PROBE_MAX_TOKENS, short_answer

# An adapter is kept out when the questions it lost against those it gained would come this
# rarely from changes that favour neither model (a one-sided sign test).
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class GeneralQuestion:
    question: str
    answers: tuple[str, ...]  # spellings of the one right answer


def general_questions() -> list[GeneralQuestion]:
    """The shipped questions, in file order."""
    data = json.loads((resources.files("ondevice") / "data" / "general_checks.json").read_text(encoding="utf-8"))
    return [GeneralQuestion(row["question"], tuple(row["answers"])) for row in data["checks"]]


def right_answers(engine: Engine, questions: list[GeneralQuestion], system_prompt: str,
                  should_stop: Callable[[], bool] | None = None) -> list[bool]:
    """Whether `engine` answers each question right (greedy, short, no memories in the prompt).

    Raises:
        InterruptedError: `should_stop` returned True between questions.
    """
    right = []
    for question in questions:
        if should_stop and should_stop():
            raise InterruptedError("evaluation cancelled")
        right.append(gives_any(short_answer(engine, system_prompt, question.question), question.answers))
    return right


def base_right_answers(open_base: Callable[[], AbstractContextManager[Engine]], base_sha256: str, cache_dir: Path,
                       questions: list[GeneralQuestion], system_prompt: str,
                       should_stop: Callable[[], bool] | None = None) -> list[bool]:
    """`right_answers` of the base model, asked once per base model and question set.

    Greedy answers of an unchanged model do not change, and asking them took 30 s a night on the
    135M model (124 questions, 2 idle cores). Kept in `cache_dir` as
    `general-base-<sha256>.json`; nothing in it comes from the user.
    """
    key = json_cache.cache_key(system_prompt, PROBE_MAX_TOKENS, [[q.question, list(q.answers)] for q in questions])
    cache = Path(cache_dir) / f"general-base-{base_sha256}.json"
    cached = json_cache.read(cache, key)
    if isinstance(cached, list) and len(cached) == len(questions):
        return [bool(right) for right in cached]
    with open_base() as engine:
        right = right_answers(engine, questions, system_prompt, should_stop)
    json_cache.write(cache, key, right)  # a full disk costs tomorrow's night a minute, never tonight's check
    return right


@dataclass(frozen=True)
class GeneralComparison:
    """The adapter against the base model, question by question."""

    base: int  # questions the base model answers right
    adapter: int  # ... and the adapter
    questions: int
    lost: int  # right by the base model, wrong with the adapter
    gained: int  # the other way round

    @property
    def chance(self) -> float:
        """How often changes that favour neither model would lose at least this many of the
        questions on which the two differ (1.0 when it lost none more than it gained)."""
        differing = self.lost + self.gained
        if self.lost <= self.gained:
            return 1.0
        return sum(math.comb(differing, k) for k in range(self.lost, differing + 1)) / 2 ** differing

    @property
    def passed(self) -> bool:
        return self.chance >= SIGNIFICANCE

    def reason(self) -> str:
        """Why the adapter stays out ("" when it passed)."""
        if self.passed:
            return ""
        return (f"the adapter answered {self.adapter} of {self.questions} general questions right against the "
                f"base model's {self.base} (it lost {self.lost}, gained {self.gained}), so the current adapter stays.")


def compare(base_right: list[bool], adapter_right: list[bool]) -> GeneralComparison:
    pairs = list(zip(base_right, adapter_right, strict=True))
    return GeneralComparison(base=sum(base_right), adapter=sum(adapter_right), questions=len(pairs),
                             lost=sum(b and not a for b, a in pairs), gained=sum(a and not b for b, a in pairs))
