"""Contradicting memories and awkward ones: the newer wins in training, nothing is lost, and the
run's report says what became of each memory."""

from __future__ import annotations

import os

import pytest

from app.learning_job import JobOptions, run_learning_job
from app.memories import MemoryService
from app.memory_conflicts import find_conflicts, slot_of
from bench import devset
from tests.conftest import run_cli
from tests.learning_helpers import TinyRandomTrainer, add_memories

FAST = JobOptions(replay_limit=2, drift_text_limit=2, trainer_cls=TinyRandomTrainer)


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
def fast_cache(nocturne_home, tmp_path_factory):
    (nocturne_home / "cache").mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path_factory.mktemp("training-cache"), nocturne_home / "cache" / "training")


def test_bad_input_gets_a_clear_outcome_and_nothing_is_lost(app, fast_cache, nocturne_home):
    texts = ["I live in Lyon", "My daughter is called Lumi", "I moved to Oslo",
             "I am " + "very " * 200 + "tired",  # too long to train
             "私の猫の名前はミソです", "Μένω στην Αθήνα",  # other scripts
             "Lumi"]  # only a name
    ids = add_memories(app, texts)
    report = run_learning_job(app, options=FAST)
    seen = TinyRandomTrainer.seen
    trained = "".join(seen.texts())
    assert "Lyon" not in trained and "Oslo" in trained  # the newer one is learned
    assert report["superseded"] == [find_conflicts([(ids[0], texts[0]), (ids[2], texts[2])])[0].explain()]
    outcomes = {int(k): v for k, v in report["memory_outcomes"].items()}
    assert outcomes[ids[3]].startswith("not learned: too long to train")
    assert ids[3] not in {p.memory_id for p in seen.probes}
    for memory_id in ids[4:]:  # other scripts and a bare name: taught and probed all the same
        assert "yes/no" in outcomes[memory_id]
        assert memory_id in {p.memory_id for p in seen.probes}
        assert memory_id in {e.memory_id for e in seen.examples if e.source == "memory"}
    assert "ミソ" in trained and "Αθήνα" in trained
    # Nothing lost: every memory is still there and approved; the superseded one is flagged.
    rows = {r["id"]: r for r in MemoryService(app).list()}
    assert all(rows[i]["status"] == "approved" for i in ids)
    assert rows[ids[0]]["superseded"] and not rows[ids[2]]["superseded"]
    listing = run_cli("memories", "list", home=nocturne_home)
    assert listing.returncode == 0 and "review" in listing.stdout and "Lyon" in listing.stdout
    assert "Traceback" not in listing.stdout + listing.stderr
