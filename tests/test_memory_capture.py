"""Capture parsing, automatic proposals and the secret filter: pure text, no model, no store."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.memory_capture import (confirmation, explicit_request, kind_of, normalize, own_words,
                                propose_memories, self_statements)
from app.secrets_filter import find_secret

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("message, memory", [
    ("remember that my cat is called Miso", "My cat is called Miso"),
    ("Remember that I prefer short answers.", "I prefer short answers"),
    ("Please remember: I live in Lyon, thanks!", "I live in Lyon"),
    ("please remember that my sister is called Ana please", "My sister is called Ana"),
    ("/remember my dog is Rex", "My dog is Rex"),
    ("/remember: I am vegetarian", "I am vegetarian"),
    ("Remember my name is Ana", "My name is Ana"),
    ("Can you remember that I work as a nurse?", "I work as a nurse"),
    ("Don't forget that I'm allergic to peanuts!", "I'm allergic to peanuts"),
    ("Remember this: my bike is blue", "My bike is blue"),
])
def test_explicit_requests_yield_the_thing_to_remember(message, memory):
    assert explicit_request(message) == memory


@pytest.mark.parametrize("message", [
    "Do you remember my cat's name?",
    "Can you remember my cat's name?",
    "What do you remember about me?",
    "I remember that day at the beach.",
    "Remembering things is hard.",
    "How do I remember passwords?",
])
def test_questions_and_mentions_of_remembering_are_not_requests(message):
    assert explicit_request(message) is None


def test_an_empty_request_is_recognised_but_has_nothing_to_store():
    assert explicit_request("/remember") == ""
    assert explicit_request("Remember this") == ""


def test_confirmation_speaks_to_the_user():
    assert confirmation("My cat is called Miso") == "Got it — I'll remember that your cat is called Miso."
    assert confirmation("I am a nurse") == "Got it — I'll remember that you are a nurse."
    assert confirmation("My cat was born in 2010") == (
        "Got it — I'll remember that your cat was born in 2010.")
    assert confirmation("Answer in French") == "Got it — I'll remember that: “Answer in French”."


@pytest.mark.parametrize("text, kind", [
    ("My cat is called Miso", "fact"),
    ("I prefer short answers", "preference"),
    ("My favourite colour is green", "preference"),
    ("Please answer me in French from now on, you know I like that", "style"),
    ("Call me Captain", "style"),
    ("Actually, my dog is called Rex, not Max", "correction"),
])
def test_kind_is_guessed_from_the_wording(text, kind):
    assert kind_of(text) == kind


def test_normalize_ignores_case_spacing_and_punctuation():
    assert normalize("My cat is  called Miso.") == normalize("my cat is called miso")
    assert normalize("My cat is called Miso") != normalize("My cat is called Mimi")


SCRIPTED = [
    {"id": 1, "conversation_id": 7, "role": "user",
     "content": "Hi! My name is Ana and I live in Lyon. I'm a nurse. What should I cook tonight?"},
    {"id": 2, "conversation_id": 7, "role": "assistant",
     "content": "Hello Ana! I am a helpful assistant. My favourite dish is ratatouille. "
                "I live in your computer."},
    {"id": 3, "conversation_id": 7, "role": "user",
     "content": "Can you summarise this e-mail for me:\nI am the CEO of Acme. My office is in Berlin.\n"
                "I like golf."},
    {"id": 4, "conversation_id": 7, "role": "user",
     "content": "My friend told me \"I hate broccoli and I live in Rome\" yesterday.\n"
                "> I have three children\n```\nI work at Google\n```\nI really love hiking."},
    {"id": 5, "conversation_id": 7, "role": "user",
     "content": "I'm going to Paris tomorrow. If I had a boat I would sail. I have two kids. "
                "Imagine I am a pirate. I'd like you to answer in French."},
    {"id": 6, "conversation_id": 7, "role": "user", "content": "remember that my cat is called Miso"},
    {"id": 7, "conversation_id": 8, "role": "user", "content": "My name is Ana and I live in Lyon!"},
]


def test_proposals_are_the_users_own_statements_only():
    found = propose_memories(SCRIPTED)
    texts = [f["text"] for f in found]
    assert texts == [  # one fact per memory: a sentence with two statements gives two
        "My name is Ana",
        "I live in Lyon",
        "I'm a nurse",
        "I really love hiking",
        "I have two kids",
        "I'd like you to answer in French",
    ]
    assert [f["kind"] for f in found] == ["fact", "fact", "fact", "preference", "fact", "style"]
    assert found[0]["source_message_id"] == 1 and found[0]["source_conversation_id"] == 7
    # Nothing the assistant said, nothing pasted, quoted or in code, no explicit request.
    joined = " ".join(texts)
    for foreign in ("ratatouille", "computer", "CEO", "Berlin", "golf", "broccoli", "Rome",
                    "children", "Google", "Paris", "pirate", "Miso"):
        assert foreign not in joined


def test_own_words_cuts_pasted_and_quoted_text():
    words = own_words('Translate this:\nI am a dog.\n')
    assert "dog" not in words and "Translate" in words
    assert "secret plan" not in own_words('He wrote “my secret plan is ready” to me')
    assert self_statements("He said 'I live in a small flat in Oslo' to me") == []


@pytest.mark.parametrize("text, reason", [
    ("My password is hunter2", "password"),
    ("wifi passcode: 8812", "password"),
    ("my PIN is 4921", "password"),
    ("my api key is sk-proj-abcdefghijklmnopqrstuvwx", "API key"),
    ("use ghp_abcdefghijklmnopqrstuvwxyz0123456789", "API key"),
    ("AKIAIOSFODNN7EXAMPLE is the AWS one", "API key"),
    ("token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0", "API key"),
    ("My card is 4111 1111 1111 1111", "card"),
    ("card 4111-1111-1111-1111 expires soon", "card"),
    ("my IBAN is GB82 WEST 1234 5698 7654 32", "IBAN"),
    ("my account number is 12345678", "account"),
    ("SSN 123-45-6789", "account"),
    ("ticket 123456789012 later", "digits"),  # a phone number after "call" is allowed
    ("reference 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "random-looking"),
])
def test_secrets_are_found_with_a_reason(text, reason):
    found = find_secret(text)
    assert found is not None and reason.lower() in found.lower()


@pytest.mark.parametrize("text", [
    "My cat is called Miso",
    "I was born in 1990 and moved on 2021-03-04",
    "I prefer short answers",
    "My bus pass is blue",
    "I keep my passwords in a password manager",
    "I have 2 kids aged 7 and 10",
    "My favourite number is 42",
])
def test_ordinary_sentences_are_not_secrets(text):
    assert find_secret(text) is None


def test_quality_rules_one_fact_no_fragments_and_paraphrases_are_known():
    from app.memory_capture import KnownMemories, self_statements

    assert self_statements("I love it, thanks!") == []
    assert self_statements("I like that so much.") == []
    assert [t for t, _ in self_statements("She practises after school, and I play the cello myself.")] \
        == ["I play the cello myself"]
    assert [t for t, _ in self_statements("I'm allergic to penicillin. Is amoxicillin ok?")] \
        == ["I'm allergic to penicillin"]
    assert [t for t, _ in self_statements("I'm 34 and thinking about a career change.")] == ["I'm 34"]
    known = KnownMemories(["I am a vegetarian", "My cat is called Miso"])
    assert "I'm vegetarian" in known
    assert "my cat is called miso!" in known
    assert "My dog is called Miso" not in known
    assert "I live in Lyon" not in known


def test_the_memory_bench_scores_the_rules_on_the_labelled_conversations():
    """bench/memories.py's scorer on its real data: a proposal counts once, by its keywords."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_memories", REPO / "bench" / "memories.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    conversations = bench.load()
    assert len(conversations) >= 30
    perfect = bench.score(conversations, lambda turns: [
        e["text"] for c in conversations if c["turns"] == turns for e in c["expected"]])
    assert (perfect["precision"], perfect["recall"], perfect["duplicate_rate"]) == (1.0, 1.0, 0.0)
    doubled = bench.score(conversations, lambda turns: 2 * [
        e["text"] for c in conversations if c["turns"] == turns for e in c["expected"]])
    assert doubled["duplicate_rate"] == 0.5
    rules = bench.score(conversations, bench.rules_path)
    assert 0 < rules["recall"] < 1 and rules["proposals"] > 0
