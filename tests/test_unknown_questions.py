"""bench/unknown_questions.py: questions nobody answered, and how an answer saying so is told
from one that makes something up."""

from __future__ import annotations

import pytest

from bench import devset
from bench.unknown_questions import says_not_told, unknown_questions


def test_the_bench_has_forty_distinct_questions_none_of_them_a_development_set_question():
    asked = unknown_questions()
    assert len(asked) >= 40 and len(set(asked)) == len(asked) and all(q.endswith("?") for q in asked)
    dev_questions = {q.question.lower() for m in devset.first(208) for q in m.questions}
    assert not dev_questions & {q.lower() for q in asked}


@pytest.mark.parametrize(("answer", "not_told"), [
    ("You haven't told me your middle name.", True), ("I don't know.", True), ("You never told me that.", True),
    ("I do not have that information.", True), ("I'm not sure, but maybe Oslo.", True),
    ("Your hamster is called Miso.", False), ("Your knowledge of birds is vast.", False),
    ("You told me you live in Tromsø.", False)])
def test_an_answer_says_it_was_not_told_only_in_so_many_words(answer, not_told):
    assert says_not_told(answer) == not_told
