"""Memories proposed by the chat model: the grammar keeps its answer JSON, and the quality rules
keep only grounded, first-person, atomic statements from the user's own turns."""

from __future__ import annotations

import json

from app.memory_extraction import SCHEMA, acceptable, extract, with_rules
from ondevice.engine import Engine, GenerationOptions, Usage
from ondevice.llama_engine import LlamaEngine
from ondevice.models import HashCache, resolve_model

TURNS = [
    {"id": 1, "conversation_id": 3, "role": "user",
     "content": "My daughter Ada is 9 and I play the cello. What's a good practice routine?"},
    {"id": 2, "conversation_id": 3, "role": "assistant", "content": "I live in a data centre in Dublin."},
    {"id": 3, "conversation_id": 3, "role": "user", "content": "Summarise this:\nI am the CEO of Acme."},
]


class ScriptedEngine(Engine):
    """A real Engine subclass that answers every request with the same text."""

    def __init__(self, answer: str):
        self.answer = answer
        self.requests: list[tuple[list[dict], GenerationOptions]] = []

    loaded = True
    context_size = 2048

    def load(self) -> None:
        pass

    def count_tokens(self, messages):
        return sum(len(m["content"].split()) for m in messages)

    def stream(self, messages, options=None, cancel=None):
        self.requests.append((messages, options))
        yield self.answer
        yield Usage(1, 1, 1.0, 1.0, "stop")


def test_only_grounded_first_person_memories_of_the_users_turns_are_kept():
    engine = ScriptedEngine(json.dumps({"memories": [
        {"turn": 1, "memory": "My daughter Ada is 9", "kind": "fact"},
        {"turn": 1, "memory": "I play the cello", "kind": "fact"},
        {"turn": 1, "memory": "I play the cello.", "kind": "fact"},  # the same again
        {"turn": 1, "memory": "I live in Paris", "kind": "fact"},  # invented
        {"turn": 2, "memory": "I live in a data centre in Dublin", "kind": "fact"},  # pasted, turn 2
        {"turn": 1, "memory": "Ada plays the violin", "kind": "fact"},  # not first person
        {"turn": 9, "memory": "I am 40", "kind": "fact"},  # no such turn
        {"turn": 1, "memory": "Do I play the cello?", "kind": "fact"},
    ]}))
    found = extract(engine, TURNS)
    assert [(m["text"], m["source_message_id"]) for m in found] == [
        ("My daughter Ada is 9", 1), ("I play the cello", 1)]
    (messages, options), = engine.requests
    assert options.json_schema == SCHEMA
    prompt = messages[-1]["content"]
    # Only the user's own words reach the model: no assistant turn, no pasted text.
    assert "Dublin" not in prompt and "Acme" not in prompt and "cello" in prompt


def test_a_cut_off_answer_proposes_nothing_instead_of_failing():
    assert extract(ScriptedEngine('{"memories": [{"turn": 1, "memo'), TURNS) == []


def test_the_rules_and_the_model_together_give_each_memory_once():
    engine = ScriptedEngine(json.dumps({"memories": [
        {"turn": 1, "memory": "I play the cello", "kind": "fact"}]}))
    texts = [m["text"] for m in with_rules(engine, TURNS)]
    assert texts.count("I play the cello") == 1 and "My daughter Ada is 9" in texts


def test_acceptable_needs_the_words_of_the_turn():
    assert acceptable("I am allergic to penicillin", "oh and I'm allergic to penicillin btw")
    assert not acceptable("I am allergic to peanuts", "I'm allergic to penicillin")
    assert not acceptable("I love it", "I love it")  # too little to be a memory on its own


def test_the_grammar_makes_the_real_model_answer_json_of_the_schema(model_path, tmp_path):
    engine = LlamaEngine(resolve_model(str(model_path), HashCache(tmp_path / "hashes.json")))
    try:
        messages = [{"role": "user", "content": "I live in Oslo and I have a cat called Miso. "
                                                "List facts about me as JSON."}]
        text = "".join(p for p in engine.stream(
            messages, GenerationOptions(max_tokens=120, json_schema=SCHEMA)) if isinstance(p, str))
    finally:
        engine.close()
    data = json.loads(text)
    assert isinstance(data["memories"], list)
    for item in data["memories"]:
        assert set(item) == {"turn", "memory", "kind"} and item["kind"] in ("fact", "preference", "style")
