"""Reviewing memories at import scale: filters, bulk approve/reject (service and CLI), and the
nightly proposal step's time budget. Proposals come from real imports of the fixture exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import InputError, NotFoundError
from app.history_import import import_history
from app.memory_review import MemoryFilter
from app.nightly_proposals import CURSOR_KEY, propose_new_turns
from app.runs import TrainingRuns
from bench.devset_chats import chats_with_user_turns, write_claude_export
from ondevice.adapters import AdapterRegistry, version_dir
from tests.conftest import run_cli
from tests.test_memories import trained_adapter

EXPORTS = Path(__file__).parent / "data" / "exports"


@pytest.fixture
def imported(app) -> dict:
    """The three fixture exports imported (their proposals pending), one memory proposed from a
    chat here and one added by hand. Values: memory texts by where they came from."""
    for name in ("chatgpt_conversations.json", "claude_conversations.json", "open_webui_chats.json"):
        import_history(app, EXPORTS / name)
    conversation = app.log.create("Native chat")
    app.log.add_message(conversation, "user", "I play the cello in an orchestra.")
    app.memories().propose(conversation_ids=[conversation])
    app.memories().add("I prefer short answers", kind="preference")
    return {"conversation": conversation}


def texts(rows) -> set[str]:
    return {row["text"] for row in rows}


def pending_ids(app) -> list[int]:
    return [r["id"] for r in app.store.query("SELECT id FROM memories WHERE status = 'pending'")]


def statuses(app) -> dict[int, str]:
    return {r["id"]: r["status"] for r in app.store.query("SELECT id, status FROM memories")}


def test_memories_are_filtered_by_where_they_came_from_kind_and_conversation(app, imported):
    memories = app.memories()
    assert texts(memories.list(source="chatgpt")) == {"I live in Tromsø", "I work as a marine biologist"}
    assert texts(memories.list(source="claude")) == {"My daughter Lumi is 7",
                                                     "I run the Bergen marathon every September"}
    assert texts(memories.list(source="open-webui")) == {"I don't eat meat"}
    assert len(memories.list(source="imported")) == 5
    assert texts(memories.list(source="chat")) == {"I play the cello in an orchestra"}
    assert texts(memories.list(source="hand")) == {"I prefer short answers"}
    assert texts(memories.list(source="imported", kind="preference")) == {"I don't eat meat"}
    claude = memories.list(source="claude")[0]["source_conversation_id"]
    assert texts(memories.list(conversation_id=claude)) == texts(memories.list(source="claude"))
    assert {r["conversation_source"] for r in memories.list(source="imported")} == {
        "chatgpt", "claude", "open-webui"}
    assert memories.list(status="approved", source="chatgpt") == []


def test_an_unknown_filter_value_is_one_sentence(app, imported):
    with pytest.raises(InputError, match="is not a memory source: use one of chatgpt"):
        app.memories().list(source="myspace")
    with pytest.raises(NotFoundError, match="There is no conversation 999"):
        app.memories().matching_ids(MemoryFilter(conversation_id=999))


def test_approving_and_rejecting_many_changes_exactly_those(app, imported):
    memories = app.memories()
    chosen = memories.matching_ids(MemoryFilter(status="pending", source="chatgpt"))
    before = statuses(app)
    result = memories.review(chosen, "approved")
    assert sorted(result.changed) == sorted(chosen) and result.summary() == "Approved 2 memories."
    after = statuses(app)
    assert {i for i in after if after[i] != before[i]} == set(chosen)
    again = memories.review(chosen + chosen, "approved")  # repeated ids count once
    assert again.changed == [] and again.summary() == "Nothing changed: they were already approved."
    rejected = memories.review(memories.matching_ids(MemoryFilter(status="pending")), "rejected")
    assert len(rejected.changed) == 4 and set(statuses(app).values()) == {"approved", "rejected"}


def test_a_bad_id_changes_nothing(app, imported):
    memories = app.memories()
    before = statuses(app)
    with pytest.raises(NotFoundError, match=r"There is no memory 999, 1000: nothing was changed"):
        memories.review(pending_ids(app) + [999, 1000], "approved")
    assert statuses(app) == before
    with pytest.raises(InputError, match="is not a review decision"):
        memories.review(pending_ids(app), "pending")


def test_rejecting_many_taints_adapters_that_learned_one_of_them(app, imported, tmp_path):
    memories = app.memories()
    ids = memories.matching_ids(MemoryFilter(source="chatgpt"))
    memories.review(ids, "approved")
    clean = memories.add("I live near the sea")
    trained_on_one = trained_adapter(app, tmp_path, [ids[0], clean], name="one")
    trained_clean = trained_adapter(app, tmp_path, [clean], name="clean")
    result = memories.review(ids, "rejected")
    registry = AdapterRegistry(app.store, app.home)
    assert result.tainted_adapters == [trained_on_one]
    assert registry.get(trained_on_one).status == "tainted"
    assert registry.get(trained_clean).status != "tainted"
    assert not version_dir(app.home, trained_on_one).exists()  # its weights are gone
    assert version_dir(app.home, trained_clean).is_dir()


def test_hundreds_of_imported_proposals_are_approved_in_one_action(app, tmp_path):
    export = write_claude_export(tmp_path / "conversations.json", chats_with_user_turns(400))
    result = import_history(app, export)
    assert result.proposed_memories >= 100
    memories = app.memories()
    ids = memories.matching_ids(MemoryFilter(status="pending", source="claude"))
    assert len(ids) == result.proposed_memories
    assert len(memories.review(ids, "approved").changed) == len(ids)
    assert memories.list(status="pending") == []


# -- the CLI ------------------------------------------------------------------------------------

def cli(home, *args):
    result = run_cli("memories", *args, home=home)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def test_cli_approves_and_rejects_many_ids_or_every_pending_one_a_filter_picks(app, imported, nocturne_home):
    memories = app.memories()
    chatgpt = memories.matching_ids(MemoryFilter(source="chatgpt"))
    code, out, _ = cli(nocturne_home, "approve", *map(str, chatgpt))
    assert code == 0 and out.strip() == "Approved 2 memories."
    code, out, _ = cli(nocturne_home, "reject", "--all-pending", "--source", "claude", "--kind", "fact")
    assert code == 0 and out.strip() == "Rejected 2 memories."
    code, out, _ = cli(nocturne_home, "list", "--source", "imported", "--status", "pending")
    assert "I don't eat meat" in out and "(open-webui)" in out and "Tromsø" not in out
    assert {r["status"] for r in memories.list(source="claude")} == {"rejected"}
    assert {r["status"] for r in memories.list(source="chatgpt")} == {"approved"}


@pytest.mark.parametrize("args, says", [
    (["approve", "1", "999"], "nocturne: There is no memory 999: nothing was changed"),
    (["approve"], "nocturne: Say which memories to approve"),
    (["reject", "1", "--source", "chatgpt"], "nocturne: Give memory IDs or --all-pending"),
    (["approve", "--all-pending", "--conversation", "999"], "nocturne: There is no conversation 999"),
])
def test_cli_refuses_bad_input_in_one_sentence_and_changes_nothing(app, imported, nocturne_home, args, says):
    before = statuses(app)
    code, out, err = cli(nocturne_home, *args)
    assert code != 0 and err.startswith(says) and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and statuses(app) == before


# -- the nightly proposal step ------------------------------------------------------------------

class Ticks:
    """A clock that moves one second per reading: the budget is counted in readings."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def log_chats(app, user_turns: int) -> None:
    for number, chat in enumerate(chats_with_user_turns(user_turns)):
        conversation = app.log.create(f"Chat {number}")
        for turn in chat:
            app.log.add_message(conversation, turn["role"], turn["content"])


def proposals(app) -> set[tuple[str, int]]:
    return {(r["text"], r["source_message_id"]) for r in app.store.query("SELECT * FROM memories")}


def test_a_step_over_budget_stops_and_the_next_nights_read_the_rest(app, monkeypatch, nocturne_home, tmp_path):
    """Three nights with a budget of one batch propose exactly what one unlimited night does."""
    from app.context import Nocturne
    import app.nightly_proposals as step_module

    monkeypatch.setattr(step_module, "BATCH_TURNS", 40)
    log_chats(app, 100)
    nights = []
    while not nights or not nights[-1].finished:
        nights.append(propose_new_turns(app, None, budget_seconds=1, clock=Ticks()))
        assert len(nights) < 10
    assert [n.turns for n in nights] == [40, 40, 20] and [n.finished for n in nights] == [False, False, True]
    assert "the other turns are read next night" in nights[0].log_line()
    budgeted = proposals(app)

    monkeypatch.setenv("NOCTURNE_HOME", str(tmp_path / "other"))
    other = Nocturne(tmp_path / "other")
    log_chats(other, 100)
    unlimited = propose_new_turns(other, None)
    assert unlimited.finished and unlimited.turns == 100
    assert budgeted == proposals(other) and len(budgeted) >= 20
    other.close()
    assert propose_new_turns(app, None).turns == 0  # everything was read once


def test_the_step_reads_turns_added_to_old_chats_and_leaves_imports_alone(app):
    import_history(app, EXPORTS / "chatgpt_conversations.json")
    imported_proposals = len(app.store.query("SELECT id FROM memories"))
    old = app.log.create("Old chat")
    app.log.add_message(old, "user", "I live in Lyon.")
    first = propose_new_turns(app, None)
    assert first.turns == 1 and len(first.proposed) == 1  # the imported chats were not reread
    app.log.add_message(old, "user", "My cat is called Miso.")
    second = propose_new_turns(app, None)
    assert second.turns == 1 and [app.memories().get(i)["text"] for i in second.proposed] == [
        "My cat is called Miso"]
    assert len(app.store.query("SELECT id FROM memories")) == imported_proposals + 2


def test_the_first_step_after_an_upgrade_starts_after_the_last_runs_start(app):
    """Before the step kept its place, each night read from the last run's start."""
    conversation = app.log.create("chat")
    app.log.add_message(conversation, "user", "I live in Lyon.")
    app.log.add_message(conversation, "user", "I work as a nurse.")
    with app.store.transaction() as db:  # the first turn before the last run, the second after
        db.execute("UPDATE messages SET created_at = CASE WHEN content LIKE 'I live%' "
                   "THEN '2020-01-01T00:00:00+00:00' ELSE '2030-01-01T00:00:00+00:00' END")
    assert app.store.query_one("SELECT value FROM settings WHERE key = ?", (CURSOR_KEY,)) is None
    step = propose_new_turns(app, "2025-01-01T00:00:00+00:00")
    assert [app.memories().get(i)["text"] for i in step.proposed] == ["I work as a nurse"]


def test_the_job_runs_the_budgeted_step(app):
    from app.learning_job import propose_from_recent_chats

    log_chats(app, 30)
    step = propose_from_recent_chats(app, TrainingRuns(app.store))
    assert step.finished and step.turns == 30 and step.proposed


def test_the_readme_documents_every_memories_action_and_option():
    import argparse

    from app.cli.main import build_parser
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    memories = build_parser()._subparsers._group_actions[0].choices["memories"]
    actions = next(a for a in memories._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = [f"nocturne memories {name}" for name in actions if f"nocturne memories {name}" not in readme
               and f"/ `{name} " not in readme]
    missing += [f"{name} {option}" for name, parser in actions.items() for action in parser._actions
                for option in action.option_strings if option.startswith("--") and option != "--help"
                and option not in readme]
    assert missing == [], f"README does not mention: {missing}"
