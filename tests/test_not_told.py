"""Questions about topics the user never told are trained as "You haven't told me that."; the
bench's questions of that kind stay held out (ondevice/training/not_told.py)."""

from __future__ import annotations

import pytest

from bench import devset
from bench.unknown_questions import unknown_questions
from ondevice.answer_match import fold, says_not_told
from ondevice.training.dataset import ChatTemplate, build_training_set
from ondevice.training.not_told import MEMORIES_PER_QUESTION, not_told_answer, shipped_questions, unanswered
from tests.test_bench_devset import rewords


@pytest.fixture(scope="module")
def template(model_path):
    return ChatTemplate.from_gguf(model_path)


def word_count(text: str) -> int:
    return len(text.split())


def test_the_bench_asks_about_topics_never_trained_and_no_memory_answers():
    trained = [q.question for q in shipped_questions()]
    asked = unknown_questions()
    assert len(asked) >= 40 and len(trained) >= 60
    for question in asked:
        assert not rewords(question, trained), question
    for question in trained:
        assert not rewords(question, asked), question


def test_a_topic_any_memory_names_is_never_trained_as_unknown():
    cousin = next(q for q in shipped_questions() if "cousin" in q.question)
    alone = ["I live in Lyon."] * 40
    assert cousin.question in unanswered(alone, seed=1) or cousin.question in unanswered(alone * 5, seed=2)
    for memories in (["My cousin Liv is a journalist."] + alone, ["I have three COUSINS."] + alone):
        assert cousin.question not in unanswered(memories * 5, seed=1)
    for memories in ([m.text for m in devset.first(n)] for n in (20, 100, 208)):
        told = [fold(text) for text in memories]
        for question in unanswered(memories):
            topic = next(q for q in shipped_questions() if q.question == question).about
            assert not any(fold(word) in text for word in topic for text in told), question


def test_about_one_question_per_few_memories_and_none_without_memories():
    assert unanswered([]) == []
    assert len(unanswered(["I live in Lyon."])) == 2
    assert len(unanswered(["I live in Lyon."] * 100)) == 100 // MEMORIES_PER_QUESTION
    assert len(set(unanswered(["I live in Lyon."] * 100))) == 100 // MEMORIES_PER_QUESTION


def test_the_training_set_teaches_them_bare_and_as_in_chat_never_naming_a_secret(template):
    memories = [(1, "My cat is called Miso"), (2, "I live in Lyon"), (3, "My dentist's PIN is 4242"),
                (4, "I work as a beekeeper")]
    in_chat = lambda shown: "SYSTEM with " + " | ".join(shown)  # noqa: E731
    secret = lambda text: "a PIN" if "PIN" in text else None  # noqa: E731
    dataset, report = build_training_set(memories, template, "SYSTEM", word_count, is_secret=secret,
                                         system_with_memories=in_chat)
    told = [e for e in dataset.examples if e.source == "not_told"]
    assert len(told) == report.counts["not_told"] == 2
    assert all(e.messages[2]["content"] == not_told_answer() and e.memory_id is None for e in told)
    assert [e.messages[0]["content"] == "SYSTEM" for e in told] == [True, False]  # one bare, one as in chat
    assert all("PIN" not in e.text for e in told)  # the secret is never shown...
    assert all("dentist" not in e.messages[1]["content"] for e in told)  # ...yet still counts as told


@pytest.mark.parametrize(("answer", "not_told"), [
    ("You haven't told me your middle name.", True), ("I don't know.", True), ("You never told me that.", True),
    ("I do not have that information.", True), ("I'm not sure, but maybe Oslo.", True),
    ("Your hamster is called Miso.", False), ("Your knowledge of birds is vast.", False),
    ("You told me you live in Tromsø.", False)])
def test_an_answer_says_it_was_not_told_only_in_so_many_words(answer, not_told):
    assert says_not_told(answer) == not_told
