"""Build the TrainingSet: memory phrasings, statements, feedback and replay, in the model's template.

Every example is rendered with the base model's own chat template and the app's system prompt,
so what is trained looks exactly like what the chat service later sends. Held-out wordings
become probes and are never trained on; replay of the base model's own answers is mixed in at a
set share of the tokens against forgetting.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .phrasing import Phrasings, confirmations, phrase
from .types import Example, Probe, TrainingSet

# Share of training tokens that are replay. Around 30% keeps the base behaviour on generic
# prompts without drowning the few personal facts (replay work on continual learning uses 10-50%).
REPLAY_SHARE = 0.3
# Up to this many other memories go in the system prompt of a question asked "as in chat".
MAX_OTHER_MEMORIES = 6
# Held-out probes per memory: enough to say whether it is known, few enough for a quick gate.
PROBES_PER_MEMORY = 2
# A memory longer than this (tokens) cannot fit one training example (the trainers cut examples
# at 256 tokens, system prompt included): it is not trained and stays in the chat prompt.
MAX_MEMORY_TOKENS = 150

SecretCheck = Callable[[str], "str | None"]
TOKEN_TYPE_CONTROL = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL in tokenizer.ggml.token_type


class ChatTemplate:
    """The base GGUF's own chat template, rendered as llama-cpp-python renders it for the engine."""

    def __init__(self, template: str, bos_token: str = "", eos_token: str = "",
                 control_tokens: tuple[str, ...] = ()):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.control_tokens = tuple(t for t in control_tokens if t)
        self._full = Jinja2ChatFormatter(template, eos_token, bos_token, add_generation_prompt=False)
        self._prompt = Jinja2ChatFormatter(template, eos_token, bos_token, add_generation_prompt=True)

    @classmethod
    def from_gguf(cls, path: Path, template: str | None = None) -> "ChatTemplate":
        """The GGUF's chat template (or `template`, the one chosen for it), with its BOS/EOS texts.

        Raises:
            ValueError: no `template` given and the GGUF has no chat template.
        """
        from ondevice.gguf_header import read_header

        ids_of = ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id")
        first = read_header(path).metadata
        wanted = {first[key] for key in ids_of if isinstance(first.get(key), int)}
        control_ids = _control_token_ids(path, first.get("tokenizer.ggml.token_type"))
        metadata = read_header(path, pick={"tokenizer.ggml.tokens": wanted | control_ids}).metadata
        own = metadata.get("tokenizer.chat_template")
        if template is None and not own:
            raise ValueError(f"{Path(path).name} has no chat template: choose an instruct/chat model "
                             "or set the chat_template setting.")
        tokens = metadata.get("tokenizer.ggml.tokens")
        bos, eos = (_token_text(tokens, metadata.get(key)) for key in ids_of)
        controls = tuple(text for text in (_token_text(tokens, i) for i in sorted(control_ids)) if text)
        return cls(template if template is not None else own, bos, eos, controls)

    def control_text_in(self, text: str) -> str | None:
        """Why `text` must not be trained: it spells one of the model's control tokens.

        Trainers tokenize rendered examples with special tokens parsed, so such text would
        become a real role marker (chat tokenizes it as plain text: ondevice/chat_tokens.py).
        """
        found = next((token for token in self.control_tokens if token in text), None)
        return f"it contains the model's control marker {found}" if found else None

    @classmethod
    def for_model(cls, model) -> "ChatTemplate":
        """The template chat uses for `model` (an ondevice.models.ModelFile): the `chat_template`
        setting's, else the GGUF's own, so training renders exactly what chat sends.

        Raises:
            ModelFileError: no template (a base model and no setting).
        """
        text, _stops = model.chat_template()
        return cls.from_gguf(model.path, text)

    def render(self, messages: list[dict]) -> str:
        """The whole conversation, assistant answers included (what a trainer tokenizes)."""
        return self._full(messages=messages).prompt

    def answer_start(self, messages: list[dict], text: str) -> int:
        """Where the last (assistant) message starts in `text`, the rendering of `messages`.

        That is the length of the prompt the engine sends (generation prompt included); 0 when
        the template renders the prompt differently, so the whole text is trained.
        """
        prompt = self._prompt(messages=messages[:-1]).prompt
        return len(prompt) if text.startswith(prompt) else 0


def _token_text(tokens, index) -> str:
    """The text of token `index` from a header's token list (kept whole, or picked items)."""
    from ondevice.gguf_header import SkippedArray

    if not isinstance(index, int) or tokens is None:
        return ""
    if isinstance(tokens, SkippedArray):
        return tokens.picked.get(index, "")
    return tokens[index] if 0 <= index < len(tokens) else ""


def _control_token_ids(path: Path, types) -> set[int]:
    """Ids of the model's control tokens (role markers), from tokenizer.ggml.token_type."""
    from ondevice.gguf_header import SkippedArray, read_header

    if isinstance(types, SkippedArray):  # a long array: read every item, they are small ints
        picked = read_header(path, pick={"tokenizer.ggml.token_type": set(range(types.length))})
        types = picked.metadata["tokenizer.ggml.token_type"].picked
        return {i for i, kind in types.items() if kind == TOKEN_TYPE_CONTROL}
    if isinstance(types, (list, tuple)):
        return {i for i, kind in enumerate(types) if kind == TOKEN_TYPE_CONTROL}
    return set()


@dataclass
class BuildReport:
    """What went into the set and what was left out (and why), for the run's log."""

    memories_used: list[int] = field(default_factory=list)
    skipped_secrets: list[str] = field(default_factory=list)  # "memory 4: looks like a password"
    skipped_control_text: list[str] = field(default_factory=list)  # "memory 4: it contains ... <|im_start|>"
    ambiguous_questions: set[str] = field(default_factory=set)  # asked of several memories: unused
    counts: dict[str, int] = field(default_factory=dict)  # source -> examples
    tokens: dict[str, int] = field(default_factory=dict)  # source -> tokens
    questions_per_memory: dict[int, int] = field(default_factory=dict)  # trained questions
    probe_families: set[str] = field(default_factory=set)
    trained_families: set[str] = field(default_factory=set)
    outcomes: dict[int, str] = field(default_factory=dict)  # memory id -> what became of it
    reading_practice: int = 0  # questions asked with their own memory among others in the prompt


def content_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_training_set(
    memories: list[tuple[int, str]],
    template: ChatTemplate,
    system_prompt: str,
    count_tokens: Callable[[str], int],
    replay: list[tuple[str, str]] = (),
    feedback: list[tuple[str, str, str]] = (),
    is_secret: SecretCheck | None = None,
    replay_share: float = REPLAY_SHARE,
    seed: int = 0,
    system_with_memories: Callable[[list[str]], str] | None = None,
    reading_share: float = 0.0,
) -> tuple[TrainingSet, BuildReport]:
    """Turn approved memories (+ feedback, + replay) into chat-format examples and probes.

    Every memory is taught and probed, whatever its shape: its atomic facts get questions from
    TRAIN template families and probes from PROBE families (never trained, by construction);
    a memory whose questions were all ambiguous still gets a yes/no question and probe.

    Args:
        memories: (memory id, text) of approved memories.
        template: the base model's chat template.
        system_prompt: the app's system prompt without memories (what chat-time prompts carry).
        count_tokens: tokens of a rendered text (to size the replay share).
        replay: (prompt, base model's answer) pairs.
        feedback: (kind "correction"|"liked", user message, answer) pairs from rated messages.
        is_secret: returns a reason when text holds a secret; such text is never trained.
        replay_share: target share of replay tokens in the whole set.
        seed: shuffles replay selection and probe choice.
        system_with_memories: the system prompt chat sends with these memory texts in it. When
            given, every other trained question of a memory is asked with a few other memories
            in the prompt, as chat shows the memories not learned yet: trained only with the
            bare prompt, the 135M model answered from those instead. A share of all questions
            (`reading_share`) is asked once more with the memory itself among other memories
            (the same others for a question that has them), so the model practises reading its
            answer from the prompt, as chat needs for every memory not learned.
        reading_share: the share of questions asked again with the memory shown (the job sets
            it: app/reading_practice.py).

    Returns:
        (the TrainingSet, a BuildReport of counts and skipped items).
    """
    report = BuildReport()
    examples: list[Example] = []
    probes: list[Probe] = []
    hashes: dict[int, str] = {}
    secret = is_secret or (lambda _text: None)
    others_rng = random.Random(seed)
    reading_rng = random.Random(seed + 1)  # its own stream: the other memories drawn stay the same

    def add(user: str, answer: str, source: str, memory_id: int | None = None,
            system_text: str = system_prompt) -> None:
        messages = ({"role": "system", "content": system_text}, {"role": "user", "content": user},
                    {"role": "assistant", "content": answer})
        text = template.render(list(messages))
        # Replay is the base model's own answer: it anchors the model, it teaches nothing new.
        start = len(text) if source == "replay" else template.answer_start(list(messages), text)
        examples.append(Example(messages, text, source, memory_id, start))

    kept: list[tuple[int, str, Phrasings]] = []
    for memory_id, text in memories:
        reason = secret(text)
        if reason:
            report.skipped_secrets.append(f"memory {memory_id}: {reason}")
            report.outcomes[memory_id] = f"not learned: {reason} (secrets are never trained)"
            continue
        if count_tokens(text) > MAX_MEMORY_TOKENS:
            report.outcomes[memory_id] = (f"not learned: too long to train ({count_tokens(text)} tokens, at most "
                                          f"{MAX_MEMORY_TOKENS}); it stays in the chat prompt; split it into shorter memories")
            continue
        # Both trainers tokenize whole rendered examples with special tokens parsed, so such a
        # memory would be trained as a real role marker; chat reads it as plain text.
        reason = template.control_text_in(text)
        if reason:
            report.skipped_control_text.append(f"memory {memory_id}: {reason}")
            report.outcomes[memory_id] = f"not learned: {reason}; it stays in the chat prompt as plain text"
            continue
        kept.append((memory_id, text, phrase(text)))
    report.ambiguous_questions = _shared_questions([w for _, _, w in kept])
    names = [(memory_id, pair) for memory_id, _, w in kept for pair in w.names]

    for memory_id, text, wordings in kept:
        # A question several memories answer ("What do I like?") would teach conflicting
        # answers and make a probe no answer can pass for sure: neither train nor probe it.
        trained = [q for q in wordings.trained if q.text.lower() not in report.ambiguous_questions]
        held = [q for q in wordings.probes if q.text.lower() not in report.ambiguous_questions]
        fallback_train, fallback_probe = confirmations(wordings)
        report.outcomes[memory_id] = (f"taught with {len(trained)} questions" if trained and held else
                                      "no question shape recognised: taught and probed with yes/no questions")
        trained = trained or [fallback_train]
        held = held or [fallback_probe]
        others = [other for other_id, other, _ in kept if other_id != memory_id]
        for index, question in enumerate(trained):
            system_text, shown = system_prompt, None
            if system_with_memories is not None and others and index % 2 == 1:
                shown = others_rng.sample(others, others_rng.randint(1, min(MAX_OTHER_MEMORIES, len(others))))
                system_text = system_with_memories(shown)
            if system_with_memories is not None and reading_rng.random() < reading_share:
                # An extra example, not a converted one: every question still trains the weights.
                # Any question, so yes/no ones practise reading a negation too ("Do I eat meat?").
                read = list(shown) if shown is not None else reading_rng.sample(
                    others, reading_rng.randint(min(1, len(others)), min(MAX_OTHER_MEMORIES, len(others))))
                read.insert(reading_rng.randint(0, len(read)), text)
                add(question.text, question.answer, "memory", memory_id, system_with_memories(read))
                report.reading_practice += 1
            add(question.text, question.answer, "memory", memory_id, system_text)
            report.trained_families.add(question.family)
        # Other people's names asked against this one's relation, answered no (PLUM's negative
        # pairs): without them the 135M model gave a partner's name for a child.
        for relation, name in wordings.names:
            candidates = [pair for other_id, pair in names if other_id != memory_id and pair[1] != name]
            if candidates:
                other = others_rng.choice(candidates)
                add(f"Is {other[1]} {relation.replace('your', 'my', 1)}?",
                    f"No. {relation[:1].upper() + relation[1:]} is called {name}; {other[1]} is {other[0]}.",
                    "memory", memory_id)
        # The statement in context: the user says it, the assistant acknowledges it back.
        add(wordings.statement, f"Thanks for telling me. I'll remember that: {wordings.answer}",
            "statement", memory_id)
        chosen = random.Random(memory_id * 7919 + seed).sample(held, min(PROBES_PER_MEMORY, len(held)))
        probes.extend(Probe(memory_id, q.text, q.expected) for q in chosen)
        report.probe_families.update(q.family for q in chosen)
        report.questions_per_memory[memory_id] = len(trained)
        hashes[memory_id] = content_sha256(text)
        report.memories_used.append(memory_id)

    for kind, user, answer in feedback:
        reason = secret(user) or secret(answer)
        if reason:
            report.skipped_secrets.append(f"{kind} answer: {reason}")
            continue
        reason = template.control_text_in(user) or template.control_text_in(answer)
        if reason:
            report.skipped_control_text.append(f"{kind} answer: {reason}")
            continue
        add(user, answer, kind)

    personal_tokens = sum(count_tokens(e.text) for e in examples)
    _add_replay(examples, replay, personal_tokens, replay_share, secret, add, count_tokens, seed)

    for example in examples:
        report.counts[example.source] = report.counts.get(example.source, 0) + 1
        report.tokens[example.source] = report.tokens.get(example.source, 0) + count_tokens(example.text)
    return TrainingSet(examples=examples, probes=probes, memory_hashes=hashes), report


def _shared_questions(all_wordings: list[Phrasings]) -> set[str]:
    """Questions (lower-cased) that memories answer with different values ("What do I own?");
    the same question with the same value ("What is my daughter called?" from two memories
    that both name her) is not ambiguous."""
    values: dict[str, set[str]] = {}
    for wordings in all_wordings:
        for question in wordings.trained + wordings.probes:
            values.setdefault(question.text.lower(), set()).add(question.expected.lower())
    return {question for question, seen in values.items() if len(seen) > 1}


def _add_replay(examples, replay, personal_tokens, share, secret, add, count_tokens, seed) -> None:
    """Append replay examples (each as a chat and as plain text) until they make up `share`
    of all tokens (cycling if needed)."""
    pool = [(p, a) for p, a in replay if a.strip() and not secret(p) and not secret(a)]
    if not pool or share <= 0 or personal_tokens == 0:
        return
    target = personal_tokens * share / (1.0 - share)
    random.Random(seed).shuffle(pool)
    added = 0
    index = 0
    # Cap the cycling: a tiny pool must not be repeated dozens of times.
    while added < target and index < len(pool) * 3:
        prompt, answer = pool[index % len(pool)]
        add(prompt, answer, "replay")
        # The same answer as plain text (no chat markup) anchors general language too, which
        # chat-only replay leaves free to drift.
        examples.append(Example((), answer, "plain", None, len(answer)))
        added += count_tokens(examples[-2].text) + count_tokens(answer)
        index += 1
