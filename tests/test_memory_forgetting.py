"""Deleting a memory touches only what it concerns, says what still mentions it, and leaves no trace.

Issue #12 items 1, 4 and 9 and #15 "deleting is a promise", against a real SQLite file, the real
bundled model and run records written by the real learning job.
"""

from __future__ import annotations

import json

import pytest

from app.conversations import Conversation
from app.learning_job import run_learning_job
from app.memory_relevance import mentions, used_in_turn
from app.runs import TrainingRuns
from ondevice.engine import GenerationOptions
from tests.conftest import run_cli
from tests.test_learning_job import FAST

DOG = "My dog is called Biscuit"


def cli(home, *args, stdin=None):
    result = run_cli(*args, home=home, stdin=stdin)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def traces(home, needle: bytes) -> list[str]:
    """Every file under the data folder whose bytes contain `needle` (case-insensitive)."""
    found = []
    for path in home.rglob("*"):
        if path.is_file() and needle.lower() in path.read_bytes().lower():
            found.append(str(path.relative_to(home)))
    return found


# -- 1. "used" means relevant ---------------------------------------------------------------------

@pytest.mark.parametrize("memory, question, answer, used", [
    (DOG, "what is 2+2", "2 + 2 = 4.", False),
    (DOG, "name a color", "Blue.", False),
    (DOG, "name a color", "Brown, like a dog.", False),  # one vague echo is not the memory
    (DOG, "What is my dog called?", "I am not sure.", True),  # asked about it
    (DOG, "Tell me about my pets", "Your dog Biscuit loves walks.", True),  # repeated its name
    ("I live in Lyon", "Where do I live?", "You live in Lyon.", True),
    ("I live in Lyon", "What's the weather like?", "It is sunny in Lyon today.", True),
    ("I live in Lyon", "Tell me a joke", "Why did the chicken cross the road?", False),
    ("I work as a nurse", "hi", "Hello! How can I help?", False),
    ("I work as a nurse", "hi", "Hello! How is work as a nurse going?", True),
    ("I prefer short answers", "Explain gravity", "Gravity pulls masses together.", False),
])
def test_a_memory_in_the_prompt_counts_as_used_only_when_relevant(memory, question, answer, used):
    assert used_in_turn(memory, question, answer) is used


def test_mentions_needs_most_of_the_memorys_words():
    assert mentions(DOG, "Your dog is called Biscuit.")
    assert not mentions(DOG, "I had a biscuit with my tea.")
    assert not mentions(DOG, "What is 2+2?")


def test_unrelated_chats_do_not_record_the_memory_but_a_question_about_it_does(app):
    dog = app.memories().add(DOG)
    chat = app.chat()
    chat.settings.options = GenerationOptions(max_tokens=24, temperature=0.0)
    replies = {q: chat.reply(Conversation(), q).consume() for q in
               ("what is 2+2", "name a color", "What is my dog called?")}
    assert all(dog in r.memory_ids for r in replies.values())  # the prompt had it every time
    used = {r["message_id"] for r in app.store.query(
        "SELECT message_id FROM message_memories WHERE memory_id = ?", (dog,))}
    assert replies["What is my dog called?"].message_id in used
    for question in ("what is 2+2", "name a color"):
        reply = replies[question]
        assert (reply.message_id in used) == ("biscuit" in reply.text.lower()), reply.text


def test_cli_delete_with_conversations_keeps_unrelated_chats(nocturne_home):
    """The issue's repro: before the fix this printed "Deleted conversations 1, 2"."""
    assert cli(nocturne_home, "memories", "add", DOG)[0] == 0
    for question in ("what is 2+2", "name a color"):
        code, out, err = cli(nocturne_home, "chat", question)
        assert code == 0 and "biscuit" not in out.lower(), (out, err)
    code, out, err = cli(nocturne_home, "memories", "delete", "1", "--with-conversations", "--yes")
    assert code == 0 and "Deleted memory 1" in out, err
    assert "Deleted conversations" not in out and "still mention" not in out
    code, out, _ = cli(nocturne_home, "history", "list")
    assert "what is 2+2" in out and "name a color" in out


# -- 1 and 9. deleting: the source, and only with consent the others ----------------------------------

@pytest.fixture
def dog_chats(app):
    """A memory from a chat, a chat whose answer used it, one that mentions it, one unrelated."""
    log = app.log
    source = log.create("About my dog")
    memory = app.memories().remember_message(log.add_message(source, "user", "My dog is called Biscuit."))
    used = log.create("What is my dog called?")
    log.add_message(used, "user", "What is my dog called?")
    answer = log.add_message(used, "assistant", "Your dog is called Biscuit.")
    with app.store.transaction() as db:
        db["message_memories"].insert({"message_id": answer, "memory_id": memory})
    mentioned = log.create("walks")
    log.add_message(mentioned, "user", "Biscuit, my dog, loves the beach.")
    unrelated = log.create("maths")
    log.add_message(unrelated, "user", "what is 2+2")
    log.add_message(unrelated, "assistant", "4")
    return {"memory": memory, "source": source, "used": used, "mentioned": mentioned, "unrelated": unrelated}


def test_delete_with_conversations_deletes_the_source_and_lists_the_rest(app, dog_chats):
    ids = dog_chats
    concerned = app.memories().conversations_mentioning(ids["memory"])
    assert [(c["id"], c["why"]) for c in concerned] == [
        (ids["source"], "source"), (ids["used"], "used"), (ids["mentioned"], "mentions")]
    result = app.memories().delete(ids["memory"], delete_conversations=True,
                                   also_conversations=[ids["unrelated"]])  # never an unrelated one
    assert result["conversation_ids"] == [ids["source"]]
    assert [c["id"] for c in result["still_mentioned"]] == [ids["used"], ids["mentioned"]]
    assert [c["id"] for c in app.log.list()] == sorted([ids["used"], ids["mentioned"], ids["unrelated"]], reverse=True)


def test_delete_with_confirmed_conversations_deletes_them(app, dog_chats):
    ids = dog_chats
    result = app.memories().delete(ids["memory"], also_conversations=[ids["source"], ids["used"], ids["mentioned"]])
    assert result["conversation_ids"] == [ids["source"], ids["used"], ids["mentioned"]]
    assert result["still_mentioned"] == []
    assert [c["id"] for c in app.log.list()] == [ids["unrelated"]]


def test_cli_asks_before_deleting_beyond_the_source_and_says_what_still_mentions_it(app, nocturne_home, dog_chats):
    ids = dog_chats
    second = app.memories().add("I live in Lyon")
    lyon = app.log.create("trip")
    app.log.add_message(lyon, "assistant", "You live in Lyon, so the train is best.")
    app.close()

    # No terminal and no --yes: only the source goes; the others are listed and kept.
    code, out, err = cli(nocturne_home, "memories", "delete", str(ids["memory"]), "--with-conversations")
    assert code == 0, err
    assert f"Deleted conversations {ids['source']}." in out
    assert "nobody was at the terminal" in out and "--yes" in out
    assert f"{ids['used']}  “What is my dog called?” (an answer used it)" in out
    assert f"{ids['mentioned']}  “walks” (it is mentioned)" in out
    assert "nocturne history delete ID" in out and "maths" not in out
    code, out, _ = cli(nocturne_home, "history", "list")
    assert "walks" in out and "maths" in out and "About my dog" not in out

    # Without the flag: the memory goes, and the answer says which chats still hold it.
    code, out, err = cli(nocturne_home, "memories", "delete", str(second))
    assert code == 0 and f"{lyon}  “trip” (it is mentioned)" in out, err
    assert "nocturne history delete ID" in out


def test_cli_yes_deletes_every_conversation_that_mentions_it(app, nocturne_home, dog_chats):
    ids = dog_chats
    app.close()
    code, out, err = cli(nocturne_home, "memories", "delete", str(ids["memory"]), "--with-conversations", "--yes")
    assert code == 0, err
    assert f"Deleted conversations {ids['source']}, {ids['used']}, {ids['mentioned']}." in out
    code, out, _ = cli(nocturne_home, "history", "list")
    assert "maths" in out and "walks" not in out


# -- 4. a refused secret leaves no trace in the title or the index ------------------------------------

def test_a_refused_secret_is_removed_from_the_title_and_the_search_index(app, nocturne_home):
    chat = app.chat()
    conversation = Conversation()
    reply = chat.reply(conversation, "remember that my card number is 4111 1111 1111 1111").consume()
    assert reply.text.startswith("I didn't save that because")
    title = app.log.get(conversation.id)["title"]
    assert "4111" not in title and title.startswith("[removed")
    assert app.log.search("4111") == []
    assert "4111" not in str(conversation.messages)  # nor in the history the next prompt sends
    app.close()
    assert traces(nocturne_home, b"4111 1111") == []


def test_a_secret_in_a_later_message_leaves_the_title_alone(app):
    chat = app.chat()
    conversation = Conversation()
    chat.reply(conversation, "remember that I live in Lyon").consume()
    chat.reply(conversation, "remember that my PIN is 4821").consume()
    assert app.log.get(conversation.id)["title"] == "remember that I live in Lyon"


# -- #15. deleting leaves nothing in run records, logs, caches or work folders --------------------------

@pytest.fixture
def training_cache(shared_training_cache):
    """The learning tests' session cache (F32 copy, replay, yardstick), linked as the job expects."""
    return shared_training_cache


def test_deleting_a_memory_purges_it_from_past_runs_and_the_data_folder(app, nocturne_home, training_cache):
    memories = app.memories()
    cat = memories.add("My cat is called Miso")
    lyon = memories.add("I live in Lyon")
    report = run_learning_job(app, options=FAST)
    run = TrainingRuns(app.store).get(report.run_id)
    # The stored report names both memories (by id: it never holds their text).
    assert {m["memory_id"] for m in run["metrics"]["memory_results"]} == {cat, lyon}
    # A run that was killed leaves its work folder (the next run would sweep it).
    leftover = nocturne_home / "runs" / "99"
    leftover.mkdir(parents=True)
    (leftover / "train.jsonl").write_text('{"text": "Your cat is called Miso."}\n')
    with app.store.transaction() as db:
        db["training_runs"].update(run["id"], {"log": f"left out memory {cat}: looked odd\nanother line"})

    memories.delete(cat)
    after = TrainingRuns(app.store).get(report.run_id)
    text = json.dumps(after["metrics"]) + (after["log"] or "") + json.dumps(after["progress"])
    assert "miso" not in text.lower()
    assert after["log"] == "another line"  # the other memory's record stays
    assert {m["memory_id"] for m in after["metrics"]["memory_results"]} == {lyon}
    app.close()
    assert traces(nocturne_home, b"miso") == []
