"""Contradicting memories and awkward ones: the newer wins in training, nothing is lost, and the
run's report says what became of each memory."""

from __future__ import annotations


import pytest

from app.learning_job import JobOptions, run_learning_job
from app.run_report import NOT_PROBED
from app.memories import MemoryService
from app.memory_conflicts import find_conflicts, slot_of
from bench import devset
from tests.conftest import run_cli
from tests.learning_helpers import TinyRandomTrainer, add_memories

FAST = JobOptions(replay_limit=1, drift_text_limit=1, trainer_cls=TinyRandomTrainer)


def test_the_newer_memory_wins_and_agreeing_ones_do_not_conflict():
    memories = [(1, "I live in Lyon"), (2, "My cat is called Miso"), (3, "I moved to Oslo."),
                (4, "My cat is called Tofu"), (5, "I live in Oslo now")]
    conflicts = find_conflicts(memories)
    assert [(c.older_id, c.newer_id, c.slot) for c in conflicts] == [
        (1, 5, "where I live"), (2, 4, "my cat's name")]
    assert "Lyon" in conflicts[0].explain() and "Oslo" in conflicts[0].explain()


def test_slots_are_read_by_plain_rules():
    assert slot_of("I work as a beekeeper.") == ("what I work as", "a beekeeper")
    assert slot_of("My favourite colour is teal") == ("my favourite colour", "teal")
    assert slot_of("I like jazz") is None


def test_the_development_set_has_no_false_conflicts():
    memories = [(i, m.text) for i, m in enumerate(devset.load(), 1)]
    assert find_conflicts(memories) == []


@pytest.fixture
def fast_cache(shared_training_cache):
    """The session's training cache (F32 copy, replay, yardstick): built once for every test."""
    return shared_training_cache


def test_the_older_memory_is_flagged_for_review_in_the_list_and_the_cli(app, nocturne_home):
    ids = add_memories(app, ["I live in Lyon", "My daughter is called Lumi", "I moved to Oslo"])
    rows = {r["id"]: r for r in MemoryService(app).list()}
    assert "Lyon" in rows[ids[0]]["superseded"] and "Oslo" in rows[ids[0]]["superseded"]
    assert not rows[ids[1]]["superseded"] and not rows[ids[2]]["superseded"]
    listing = run_cli("memories", "list", home=nocturne_home)
    out = listing.stdout.decode() + listing.stderr.decode()
    assert listing.returncode == 0 and "Traceback" not in out
    line = next(row for row in out.splitlines() if "I live in Lyon" in row)
    assert "review" in line and "Review: memory" in out


def test_the_job_trains_the_newer_memory_and_reports_every_outcome(app, fast_cache):
    texts = ["I live in Lyon", "My daughter is called Lumi", "I moved to Oslo",
             "I am " + "very " * 200 + "tired",  # too long to train
             "私の猫の名前はミソです", "Lumi"]  # another script, only a name
    ids = add_memories(app, texts)
    report = run_learning_job(app, options=FAST)
    seen = TinyRandomTrainer.seen
    trained = "".join(seen.texts())
    assert "Lyon" not in trained and "Oslo" in trained  # the newer one is learned
    assert report.superseded == [ids[0]]  # "I live in Lyon" waits for review
    outcomes = {int(k): v for k, v in report.training_outcomes.items()}
    assert outcomes[ids[3]].startswith("not learned: too long to train")
    assert "yes/no" in outcomes[ids[4]] and "yes/no" in outcomes[ids[5]]
    assert {p.memory_id for p in seen.probes} == {ids[1], ids[2], ids[4], ids[5]}
    # The too-long memory is a failure of the run, never left out of it.
    results = {m.memory_id: m.outcome for m in report.memory_results}
    assert len(results) == 5 and results[ids[3]] == NOT_PROBED
    assert all(r["status"] == "approved" for r in MemoryService(app).list())  # nothing lost
