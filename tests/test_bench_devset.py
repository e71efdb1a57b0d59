"""The development set: its format, its balance, and how answers are scored (no model here)."""

from __future__ import annotations

from collections import Counter

import pytest

from bench import devset


def test_the_set_is_large_varied_and_balanced_in_every_prefix():
    memories = devset.load()
    assert len(memories) >= 200  # the scale bench runs up to 200 memories
    assert all(len(m.questions) >= 3 for m in memories)
    shapes = Counter(m.shape for m in memories)
    assert len(shapes) >= 13 and min(shapes.values()) >= 10
    order = [m.shape for m in devset.first(13)]
    assert len(set(order)) == 13  # every shape in the first round
    for start in range(0, len(memories), 13):  # every round: the same 13 shapes in the same order
        assert [m.shape for m in memories[start:start + 13]] == order[:len(memories) - start], start
    assert len({m.text for m in memories}) == len(memories)


def test_questions_are_not_the_memory_restated():
    for memory in devset.load():
        for question in memory.questions:
            assert question.question.rstrip("?").lower() not in memory.text.lower()


@pytest.mark.parametrize("answer, ok", [
    ("You live in Tromso.", True), ("You live in TROMSØ", True), ("You live in Oslo.", False)])
def test_keywords_ignore_case_and_accents(answer, ok):
    question = next(q for m in devset.load() if m.text == "I live in Tromsø." for q in m.questions)
    assert question.answered_by(answer) is ok


def test_keywords_match_at_word_starts_and_all_groups_are_needed():
    no = devset.DevQuestion("Do I eat meat?", (("no", "not"),))
    assert no.answered_by("No, you don't.") and not no.answered_by("I know you like steak")
    assert not no.answered_by("Yes, you do, but not fish.")  # a yes where the answer is no
    guitar = devset.DevQuestion("Do I have a guitar?", (("Gibson", "yes"),))
    assert guitar.answered_by("Yes, a Gibson.") and not guitar.answered_by("No, but you'd like a Gibson.")
    birthday = devset.DevQuestion("When's my birthday?", (("14",), ("March",)))
    assert birthday.answered_by("On the 14th of March") and not birthday.answered_by("In March")


@pytest.mark.parametrize("keyword, answer, ok", [
    ("Liv", "You live in Tromsø.", False), ("Liv", "Your cousin is Liv.", True),
    ("O", "You were born in Oslo.", False), ("O", "Your blood type is O positive.", True),
    ("2", "You moved in 2010.", False), ("2", "On the 2nd of August.", True),
    ("war", "You like warm weather.", False), ("war", "She reported from wars.", True),
    ("biolog", "You are a biologist.", True)])
def test_numbers_and_short_words_match_whole_words_only(keyword, answer, ok):
    assert devset.DevQuestion("?", ((keyword,),)).answered_by(answer) is ok


def test_a_malformed_line_names_its_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("@ name | My cat is called Miso\n? What is my cat called?\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.txt:2"):
        devset.load(path)


def test_score_counts_per_shape_and_memories_with_every_answer():
    memories = devset.first(2)
    answers = [["Lumi", "your daughter", "Lumi"], ["Oslo", "Tromsø", "Tromsø"]]
    score = devset.score(memories, answers)
    assert (score.hits, score.total, score.memories_recalled) == (5, 6, 1)
    assert score.by_shape == {"name": 1.0, "place": 2 / 3}


def test_score_subset_leaves_out_the_questions_not_kept():
    memories = devset.first(1)
    score = devset.score_subset(memories, [["Lumi", "no idea", "Lumi"]], [[True, True, False]])
    assert (score.hits, score.total) == (1, 2)


def test_a_saved_run_is_scored_again_with_todays_keywords():
    from bench.learning import rescored, saved_answers, scored

    memories = devset.first(13)
    answers = [m.text for m in memories for _ in m.questions]  # each memory restated, three times
    conditions = {"adapter_bare": answers, "base_bare": ["Hmm."] * len(answers)}
    trained = [memories[0].questions[0].question]
    run = {"memories": 13, **saved_answers(memories, conditions, trained)}
    again = rescored(run)
    assert again["recall"] == scored(memories, conditions, trained)["recall"]
    assert again["recall"]["base_bare"] == 0 and again["recall"]["adapter_bare"] > 0.9
    assert "adapter_bare_unseen" in again["recall"]
    assert "adapter_bare_unseen" not in rescored({**run, "trained_questions": None})["recall"]


def test_the_bench_records_whether_each_question_s_memory_was_in_chat_s_prompt(app):
    # The real bundled model answers; with three memories every one fits chat's prompt, so the
    # reading rate must equal the in-chat recall the scorer gives the same answers.
    from bench.learning import ask_dev_questions, reading, score_conditions
    from tests.learning_helpers import add_memories

    memories = devset.first(3)
    add_memories(app, [m.text for m in memories])
    shown: dict[str, list[bool]] = {}
    conditions = ask_dev_questions(app, memories, None, set(), quick=True, shown=shown)
    questions = sum(len(m.questions) for m in memories)
    assert list(shown) == ["base_in_chat"] and shown["base_in_chat"] == [True] * questions
    rates = reading(memories, conditions, shown)["base_in_chat"]
    assert rates["in_prompt"] == 1.0
    assert rates["right_when_shown"] == score_conditions(memories, conditions)["base_in_chat"].rate


ASKING = {"what", "which", "many", "much", "does", "there", "name", "give"}


def content_words(text: str) -> frozenset[str]:
    """A question's longer words less the asking ones, to tell a rewording of another question."""
    return frozenset(w for w in text.lower().replace("'", " ").rstrip("?.").split() if len(w) > 3) - ASKING


def rewords(question: str, others: list[str]) -> bool:
    """The same question as one of `others`, or most of its words ("largest ocean" / "largest
    ocean on Earth")."""
    mine = content_words(question)
    return any(len(mine & content_words(other)) * 2 > len(mine) for other in others)


def test_general_questions_are_never_replay_prompts_so_adapters_are_measured_on_untrained_ones():
    from bench.memory_position import general_questions
    from ondevice.training.replay import replay_prompts

    questions = general_questions()
    assert len(questions) >= 40 and all(answers for _, answers in questions)
    for question, _ in questions:
        assert not rewords(question, replay_prompts()), question
