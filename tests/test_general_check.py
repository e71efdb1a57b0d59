"""The gate's general questions: an adapter that answers clearly fewer of them right than the base
model is not promoted, and the run's report (job, store, CLI text, desktop) says so."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from app import learning_gate, learning_job
from app.learning_job import JobOptions, run_learning_job
from app.learning_report import morning_report
from app.prompt import SYSTEM_PROMPT
from app.run_report import GeneralAnswers, RunReport
from app.runs import TrainingRuns
from bench.memory_position import general_questions as bench_questions
from ondevice.adapters import AdapterRegistry
from ondevice.general_check import base_right_answers, compare, general_questions, right_answers
from ondevice.training.replay import replay_prompts
from tests.learning_helpers import ScriptedEngine, TinyRandomTrainer, add_memories
from tests.test_bench_devset import rewords


def test_the_gate_questions_are_held_out_from_training_and_from_the_bench():
    questions = general_questions()
    assert len(questions) >= 40 and all(q.answers for q in questions)
    bench = [q for q, _ in bench_questions()]
    asked = [q.question for q in questions]
    for question in asked:
        assert not rewords(question, replay_prompts()), question  # never trained on
        assert not rewords(question, bench), question  # the bench measures what the gate did not see
    for prompt in replay_prompts():  # nor does a replay prompt take most of its words from one
        assert not rewords(prompt, asked) and not rewords(prompt, bench), prompt


def test_answers_are_scored_at_a_word_start_and_numbers_whole():
    minute = [q for q in general_questions() if q.question == "How many seconds are in a minute?"]
    said = {"How many seconds are in a minute?": "A minute has 3600 seconds."}
    assert right_answers(ScriptedEngine(said), minute, SYSTEM_PROMPT) == [False]
    said["How many seconds are in a minute?"] = "There are 60 seconds in a minute."
    assert right_answers(ScriptedEngine(said), minute, SYSTEM_PROMPT) == [True]


@pytest.mark.parametrize(("lost", "gained", "passed"), [(10, 2, False), (5, 2, True), (4, 0, True),
                                                         (6, 0, False), (3, 5, True)])
def test_an_adapter_is_kept_out_only_when_its_losses_are_unlikely_by_chance(lost, gained, passed):
    base = [True] * lost + [False] * gained + [True] * 20
    adapter = [False] * lost + [True] * gained + [True] * 20
    comparison = compare(base, adapter)
    assert (comparison.lost, comparison.gained, comparison.passed) == (lost, gained, passed)
    assert (comparison.reason() == "") == passed


class CountedEngine(ScriptedEngine):
    opened = 0


def test_the_base_model_is_asked_once_per_model_and_question_set(tmp_path):
    questions = general_questions()[:3]
    said = {q.question: f"It is {q.answers[0]}." for q in questions[:2]}  # the third is not known

    def open_base():
        CountedEngine.opened += 1
        return nullcontext(CountedEngine(said))

    first = base_right_answers(open_base, "sha-a", tmp_path, questions, SYSTEM_PROMPT)
    assert first == [True, True, False] and CountedEngine.opened == 1
    assert base_right_answers(open_base, "sha-a", tmp_path, questions, SYSTEM_PROMPT) == first
    assert CountedEngine.opened == 1  # from the cache
    base_right_answers(open_base, "sha-b", tmp_path, questions, SYSTEM_PROMPT)  # another model
    base_right_answers(open_base, "sha-a", tmp_path, questions[:2], SYSTEM_PROMPT)  # other questions
    base_right_answers(open_base, "sha-a", tmp_path, questions[:2], "Another system prompt.")
    assert CountedEngine.opened == 4
    (tmp_path / "general-base-sha-a.json").write_text('{"key": ')  # a cut-off write
    assert base_right_answers(open_base, "sha-a", tmp_path, questions, SYSTEM_PROMPT) == first
    assert CountedEngine.opened == 5
    unwritable = tmp_path / "a-file-not-a-folder"
    unwritable.write_text("")
    assert base_right_answers(open_base, "sha-a", unwritable, questions, SYSTEM_PROMPT) == first  # asked, not kept


def _right_answers() -> dict[str, str]:
    return {q.question: f"It is {q.answers[0]}." for q in general_questions()}


class Forgetful(ScriptedEngine):
    """Recalls the cat from its weights (so it beats the base model bare) and answers the first
    `forgotten` general questions wrong, the rest right."""

    def __init__(self, forgotten: int):
        wrong = {q.question for q in general_questions()[:forgotten]}
        super().__init__({q: a if q not in wrong else "I am not sure." for q, a in _right_answers().items()})

    def answer(self, messages) -> str:
        question = messages[-1]["content"]
        return self.answers[question] if question in self.answers else "Your cat is called Miso."


def test_the_job_keeps_out_an_adapter_that_lost_general_answers_and_the_report_says_so(
        app, shared_training_cache, monkeypatch):
    add_memories(app, ["My cat is called Miso"])
    adapter, base = Forgetful(forgotten=12), ScriptedEngine(_right_answers())

    def engines(model, adapter_path, threads):
        return nullcontext(adapter if adapter_path else base)

    monkeypatch.setattr(learning_gate, "candidate_engine", engines)
    monkeypatch.setattr(learning_job, "candidate_engine", engines)
    report = run_learning_job(app, options=JobOptions(replay_limit=2, drift_text_limit=2,
                                                      trainer_cls=TinyRandomTrainer))
    assert report.recall.adapter > report.recall.base  # it passed on the weights and on drift
    assert report.status == "rejected" and AdapterRegistry(app.store, app.home).list() == []
    questions = len(general_questions())
    assert report.general_answers == GeneralAnswers(questions - 12, questions, questions, 12, 0)
    assert report.reason == (f"the adapter answered {questions - 12} of {questions} general questions right "
                             f"against the base model's {questions} (it lost 12, gained 0), so the current "
                             f"adapter stays.")
    stored = TrainingRuns(app.store).last_report()  # what the CLI and the Learning view read
    assert stored.general_answers == report.general_answers
    line = (f"General questions (nothing about you) answered right: {questions - 12} of {questions} with the "
            f"adapter, {questions} by the base model (lost 12, gained 0).")
    assert line in morning_report(stored)
    from ui.views.learning_report import report_html  # the desktop's report says it too

    assert f"<p>{line}</p>" in report_html(stored)


def test_an_adapter_that_loses_a_few_by_chance_is_promoted(app, shared_training_cache, monkeypatch):
    add_memories(app, ["My cat is called Miso"])
    adapter, base = Forgetful(forgotten=2), ScriptedEngine(_right_answers())
    engines = lambda model, adapter_path, threads: nullcontext(adapter if adapter_path else base)  # noqa: E731
    monkeypatch.setattr(learning_gate, "candidate_engine", engines)
    monkeypatch.setattr(learning_job, "candidate_engine", engines)
    report = run_learning_job(app, options=JobOptions(replay_limit=2, drift_text_limit=2,
                                                      trainer_cls=TinyRandomTrainer))
    assert report.status == "succeeded", morning_report(report)
    assert (report.general_answers.lost, report.general_answers.gained) == (2, 0)


def test_older_reports_without_general_answers_read_as_not_measured():
    assert RunReport.from_dict({"status": "succeeded"}).general_answers is None
    assert RunReport.from_dict({"status": "rejected", "general_answers": {"adapter": "x"}}).general_answers is None
