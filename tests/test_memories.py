"""MemoryService against a real SQLite file, the real adapter registry and the bundled model."""

from __future__ import annotations

import sqlite3

import pytest

from app.conversations import Conversation
from app.errors import InputError, NotFoundError
from app.memories import MAX_MEMORY_CHARS, DuplicateMemoryError, MemoryService, SecretRefusedError
from app.memory_forget import content_sha256
from ondevice.adapters import AdapterRegistry
from ondevice.engine import GenerationOptions
from tests.conftest import run_cli

BASE = "b" * 64


@pytest.fixture
def memories(app) -> MemoryService:
    return app.memories()


def words(text: str) -> int:
    """A stand-in token count: one token per word (the real one is the engine's tokenizer)."""
    return len(text.split())


def trained_adapter(app, tmp_path, memory_ids: list[int], recalled: set[int] = frozenset(),
                    name: str = "a") -> str:
    """Promote a real adapter folder (its bytes are not a model: nothing loads it here)."""
    source = tmp_path / f"{name}.gguf"
    source.write_bytes(b"GGUF fake weights " + name.encode())
    hashes = {m: content_sha256(app.memories().get(m)["text"]) for m in memory_ids}
    info = AdapterRegistry(app.store, app.home).promote(
        source, BASE, "llamacpp", {}, {}, hashes, set(recalled))
    return info.version


# -- adding and reviewing -----------------------------------------------------------------------

def test_add_list_get_edit_approve_reject(memories):
    first = memories.add("My cat is called Miso")
    second = memories.add("I prefer short answers", kind="preference", status="pending")
    rows = memories.list()
    assert [r["id"] for r in rows] == [second, first]
    assert set(rows[0]) >= {"id", "text", "kind", "status", "source_message_id",
                            "source_conversation_id", "created_at", "updated_at", "learned"}
    assert rows[1]["learned"] is False and rows[0]["kind"] == "preference"
    assert [r["id"] for r in memories.list(status="pending")] == [second]
    assert [r["id"] for r in memories.list(query="miso")] == [first]
    assert memories.list(query="100%_") == []

    memories.edit(first, "  My cat is called   Mimi ")
    assert memories.get(first)["text"] == "My cat is called Mimi"
    memories.approve(second)
    assert memories.get(second)["status"] == "approved"
    memories.reject(second)
    assert memories.get(second)["status"] == "rejected"


def test_bad_input_is_refused_with_one_clear_sentence_and_nothing_is_lost(memories):
    kept = memories.add("My cat is called Miso")
    cases = [
        (lambda: memories.add("   "), InputError, "empty"),
        (lambda: memories.add("x" * 100_000), InputError, "100,000 characters"),
        (lambda: memories.add("my cat is called miso."), DuplicateMemoryError, f"Memory {kept}"),
        (lambda: memories.add(b"caf\xe9 \xff"), InputError, "not valid UTF-8"),
        (lambda: memories.add("a\x00b"), InputError, "NUL"),
        (lambda: memories.add("fine", kind="gossip"), InputError, "not a memory kind"),
        (lambda: memories.add("fine", source_message_id=999), NotFoundError, "no message 999"),
        (lambda: memories.edit(kept, ""), InputError, "empty"),
        (lambda: memories.edit(kept, "My password is hunter2"), SecretRefusedError, "password"),
        (lambda: memories.edit(999, "text"), NotFoundError, "no memory 999"),
        (lambda: memories.get(999), NotFoundError, "nocturne memories list"),
        (lambda: memories.approve(999), NotFoundError, "no memory 999"),
        (lambda: memories.delete(999), NotFoundError, "no memory 999"),
        (lambda: memories.propose(since="last tuesday"), InputError, "YYYY-MM-DD"),
    ]
    for action, error, fragment in cases:
        with pytest.raises(error) as caught:
            action()
        assert fragment in str(caught.value)
        assert str(caught.value).count(". ") == 0  # one sentence
    assert [(r["id"], r["text"]) for r in memories.list()] == [(kept, "My cat is called Miso")]
    assert memories.add("x" * MAX_MEMORY_CHARS) > kept  # the limit itself is allowed


def test_secrets_are_never_stored(app, memories):
    for secret in ("My password is hunter2", "my card is 4111 1111 1111 1111",
                   "api key: sk-abcdefghijklmnopqrstuvwxyz"):
        with pytest.raises(SecretRefusedError) as caught:
            memories.add(secret)
        assert "never stores secrets" in str(caught.value)
    assert app.store.query("SELECT * FROM memories") == []


def test_remember_message_keeps_first_person_statements_as_written(app, memories):
    conversation = app.log.create("chat")
    plain = app.log.add_message(conversation, "user", "My cat is called Miso.")
    request = app.log.add_message(conversation, "user", "please remember that I live in Lyon")
    long = app.log.add_message(conversation, "assistant", "word " * 200)
    first = memories.remember_message(plain)
    second = memories.remember_message(request)
    assert memories.get(first)["text"] == "My cat is called Miso."
    assert memories.get(first)["source_conversation_id"] == conversation
    assert memories.get(first)["source_message_id"] == plain
    assert memories.get(second)["text"] == "I live in Lyon"
    assert memories.get(second)["status"] == "approved"
    with pytest.raises(DuplicateMemoryError):
        memories.remember_message(plain)
    with pytest.raises(InputError, match="too long for a memory"):
        memories.remember_message(long)
    with pytest.raises(NotFoundError):
        memories.remember_message(999)


# -- capture in chat ------------------------------------------------------------------------------

def test_capture_in_chat_stores_confirms_and_refuses_secrets(app):
    chat = app.chat()
    chat.settings.options = GenerationOptions(max_tokens=16, temperature=0.0)
    conversation = Conversation()
    reply = chat.reply(conversation, "Remember that my cat is called Miso.").consume()
    assert reply.text == "Got it — I'll remember that your cat is called Miso."
    stored = app.memories().list()
    assert [(m["text"], m["status"], m["source_conversation_id"], m["source_message_id"])
            for m in stored] == [("My cat is called Miso", "approved", conversation.id,
                                  reply.user_message_id)]
    logged = app.log.messages(conversation.id)
    assert logged[-1]["content"] == reply.text and logged[-1]["role"] == "assistant"

    again = chat.reply(conversation, "/remember my cat is called Miso").consume()
    assert again.text == f"I already remember that (memory {stored[0]['id']})."
    empty = chat.reply(conversation, "/remember").consume()
    assert "Tell me what to remember" in empty.text

    secret = chat.reply(conversation, "please remember that my password is hunter2").consume()
    assert secret.text.startswith("I didn't save that because it looks like a password")
    assert len(app.memories().list()) == 1
    row = app.store.query_one("SELECT content FROM messages WHERE id = ?", (secret.user_message_id,))
    assert "hunter2" not in row["content"]

    # A pending proposal the user now asks to remember explicitly becomes approved.
    pending = app.memories().add("I live in Lyon", status="pending")
    chat.reply(conversation, "remember that I live in Lyon").consume()
    assert app.memories().get(pending)["status"] == "approved"


def test_temporary_chat_never_captures(app):
    chat = app.chat()
    reply = chat.reply(Conversation(temporary=True), "remember that my cat is called Miso").consume()
    assert "won't remember" in reply.text
    assert app.memories().list() == []


# -- use in context -------------------------------------------------------------------------------

def test_for_prompt_ranks_relevant_first_within_budget_and_skips_recalled(app, memories, tmp_path):
    cat = memories.add("My cat is called Miso")
    city = memories.add("I live in Lyon")
    job = memories.add("I work as a nurse")
    memories.add("My dog is called Rex", status="pending")
    chosen = memories.for_prompt("What is my cat called?", words, budget=100)
    assert chosen[0] == (cat, "My cat is called Miso")
    assert {m for m, _ in chosen} == {cat, city, job}  # unrelated ones fill the budget (newest next)
    assert [m for m, _ in chosen[1:]] == [job, city]
    assert memories.for_prompt("Where do I live?", words, budget=6) == [(city, "I live in Lyon")]
    assert memories.for_prompt("anything", words, budget=2) == []

    trained_adapter(app, tmp_path, [cat, city, job], recalled={cat})
    assert memories.get(cat)["learned"] is True and memories.get(city)["learned"] is False
    assert cat not in {m for m, _ in memories.for_prompt("What is my cat called?", words, 100)}


@pytest.mark.parametrize("question, memory", [
    ("What's my mum's name?", "My mother is called Ingrid"),  # a related word, and no "'s" noise
    ("What did we name our little girl?", "Our daughter is Emma"),
    ("What do I do for a living?", "I work as a carpenter"),
    ("Where's home?", "I live in Porto"),
])
def test_a_question_in_other_words_finds_its_memory_first(memories, question, memory):
    for other in ("My brother's car is blue", "My sister's dog is old", "I don't like rain",
                  "My friend's name is Ali", "We got a new sofa", "My son is Leo", memory):  # the memory last
        memories.add(other)
    assert memories.for_prompt(question, words, budget=100)[0][1] == memory


def test_the_bundled_model_answers_from_a_memory_in_context(app, memories):
    memories.add("My cat is called Miso")
    chat = app.chat()
    chat.settings.options = GenerationOptions(max_tokens=24, temperature=0.0)
    reply = chat.reply(Conversation(), "What is my cat called?").consume()
    assert "Miso" in reply.text
    used = app.store.query("SELECT memory_id FROM message_memories WHERE message_id = ?",
                           (reply.message_id,))
    assert [u["memory_id"] for u in used] == [1]

    chat.settings.use_memories = False
    bare = chat.reply(Conversation(), "What is my cat called?").consume()
    assert "Miso" not in bare.text and bare.memory_ids == []


# -- deleting and unlearning -----------------------------------------------------------------------

def test_delete_taints_adapters_removes_their_files_and_falls_back(app, memories, tmp_path):
    cat = memories.add("My cat is called Miso")
    city = memories.add("I live in Lyon")
    clean = trained_adapter(app, tmp_path, [city], name="clean")
    dirty = trained_adapter(app, tmp_path, [cat, city], recalled={cat, city}, name="dirty")
    registry = AdapterRegistry(app.store, app.home)
    assert registry.active().version == dirty and not memories.retrain_needed()
    dirty_folder = registry.get(dirty).path.parent

    result = memories.delete(cat)
    assert result == {"memory_id": cat, "conversation_ids": [], "still_mentioned": [],
                      "tainted_adapters": [dirty]}
    assert registry.get(dirty).status == "tainted"
    assert "memory 1 it learned was deleted" in registry.get(dirty).metrics["status_reason"]
    assert not dirty_folder.exists()
    assert registry.active().version == clean and registry.get(clean).path.is_file()
    assert app.store.query("SELECT content_sha256 FROM adapter_memories WHERE memory_id = ?",
                           (cat,)) == [{"content_sha256": None}]
    # The clean fallback was trained on exactly the remaining approved memory.
    assert not memories.retrain_needed()
    memories.add("I work as a nurse")
    assert memories.retrain_needed()


def test_edit_and_reject_taint_adapters_trained_on_the_old_text(app, memories, tmp_path):
    cat = memories.add("My cat is called Miso")
    version = trained_adapter(app, tmp_path, [cat])
    memories.edit(cat, "My cat is called Mimi")
    registry = AdapterRegistry(app.store, app.home)
    assert registry.get(version).status == "tainted" and registry.active() is None
    assert memories.retrain_needed()
    city = memories.add("I live in Lyon")
    second = trained_adapter(app, tmp_path, [cat, city], name="second")
    assert not memories.retrain_needed()
    memories.reject(city)
    assert registry.get(second).status == "tainted" and memories.retrain_needed()


def test_retrain_needed_follows_the_approved_set(app, memories, tmp_path):
    assert not memories.retrain_needed()  # nothing to learn
    pending = memories.add("I live in Lyon", status="pending")
    assert not memories.retrain_needed()  # pending memories are never trained
    memories.approve(pending)
    assert memories.retrain_needed()
    trained_adapter(app, tmp_path, [pending])
    assert not memories.retrain_needed()


def test_delete_with_conversations_removes_the_source_and_only_confirmed_users(app, memories):
    source = app.log.create("source")
    said = app.log.add_message(source, "user", "My cat is called Miso.")
    memory = memories.remember_message(said)
    user = app.log.create("used it")
    answer = app.log.add_message(user, "assistant", "Your cat is Miso.")
    with app.store.transaction() as db:
        db["message_memories"].insert({"message_id": answer, "memory_id": memory})
    other = app.log.create("unrelated")
    app.log.add_message(other, "user", "Hello")

    result = memories.delete(memory, delete_conversations=True, also_conversations=[user, other])
    assert result["conversation_ids"] == sorted([source, user])  # `other` never mentioned it
    assert [c["id"] for c in app.log.list()] == [other]
    assert app.store.query("SELECT * FROM message_memories") == []


def test_delete_conversation_offers_its_memories(app, memories):
    first = app.log.create("first")
    memory = memories.remember_message(app.log.add_message(first, "user", "I live in Lyon"))
    second = app.log.create("second")
    kept = memories.remember_message(app.log.add_message(second, "user", "I work as a nurse"))

    memories.delete_conversation(second)
    assert memories.get(kept)["source_conversation_id"] is None  # kept, link dropped
    result = memories.delete_conversation(first, with_memories=True)
    assert result["memory_ids"] == [memory]
    assert [m["id"] for m in memories.list()] == [kept] and app.log.list() == []
    with pytest.raises(NotFoundError):
        memories.delete_conversation(first)


# -- automatic proposals ------------------------------------------------------------------------------

def test_propose_from_logged_chats_dedupes_and_respects_rejection(app, memories):
    conversation = app.log.create("about me")
    app.log.add_message(conversation, "user", "Hi, I'm a nurse. Summarise this:\nI am a pilot.")
    app.log.add_message(conversation, "assistant", "I live in the cloud. My name is Nocturne.")
    app.log.add_message(conversation, "user", "I live in Lyon. My password is hunter2.")
    existing = memories.add("I live in Lyon")

    ids = memories.propose()
    rows = [memories.get(i) for i in ids]
    assert [(r["text"], r["status"], r["source_conversation_id"]) for r in rows] == [
        ("I'm a nurse", "pending", conversation)]
    assert memories.get(existing)["status"] == "approved"
    assert memories.propose() == []  # already proposed
    memories.reject(ids[0])
    assert memories.propose() == []  # rejected stays rejected
    assert memories.propose(since="2999-01-01") == []


# -- the CLI, end to end ----------------------------------------------------------------------------

def test_cli_remember_answer_delete_and_forget_the_bytes(nocturne_home):
    def cli(*args, stdin=None):
        result = run_cli(*args, home=nocturne_home, stdin=stdin)
        return result.returncode, result.stdout.decode(), result.stderr.decode()

    code, out, err = cli("memories", "add", "My cat is called Miso")
    assert code == 0 and "Added memory 1" in out, err
    code, out, err = cli("chat", "What is my cat called?")
    assert code == 0 and "Miso" in out, err
    code, out, _ = cli("memories", "list", "--status", "approved")
    assert "My cat is called Miso" in out and "approved" in out

    assert cli("memories", "add", "my cat is called miso")[0] == 1
    code, _, err = cli("memories", "add", "-", stdin=b"x" * 100_000)
    assert code == 1 and "characters long" in err
    code, _, err = cli("memories", "approve", "42")
    assert code == 1 and "There is no memory 42" in err
    code, _, err = cli("memories", "add", "my PIN is 1234")
    assert code == 1 and "never stores secrets" in err

    code, out, err = cli("memories", "delete", "1", "--with-conversations", "--yes")
    assert code == 0 and "Deleted memory 1" in out and "Deleted conversations 1" in out, err
    code, out, err = cli("chat", "What is my cat called?")
    assert code == 0 and "Miso" not in out, err
    for name in ("nocturne.db", "nocturne.db-wal"):
        path = nocturne_home / name
        if path.exists():
            assert b"miso" not in path.read_bytes().lower(), name
    db = sqlite3.connect(nocturne_home / "nocturne.db")
    assert db.execute("SELECT count(*) FROM memories").fetchone()[0] == 0
    db.close()


def test_cli_propose_edit_reject(nocturne_home, app):
    conversation = app.log.create("chat")
    app.log.add_message(conversation, "user", "I live in Lyon and I love hiking.")
    app.log.add_message(conversation, "assistant", "I am a language model.")
    app.close()
    result = run_cli("memories", "propose", "--since", "2000-01-01", home=nocturne_home)
    out = result.stdout.decode()
    assert result.returncode == 0 and "Proposed 2 memories" in out  # one fact each
    assert "I live in Lyon" in out and "I love hiking" in out and "language model" not in out
    assert run_cli("memories", "edit", "1", "I live in Lyon, France", home=nocturne_home).returncode == 0
    assert run_cli("memories", "reject", "1", home=nocturne_home).returncode == 0
    listed = run_cli("memories", "list", "--status", "rejected", home=nocturne_home).stdout.decode()
    assert "I live in Lyon, France" in listed and "hiking" not in listed
