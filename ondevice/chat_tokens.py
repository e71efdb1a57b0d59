"""Tokenize a chat so that only the template's own markers can become control tokens.

Tokenizing the whole rendered prompt with special tokens parsed lets a user message or a memory
that contains `<|im_start|>system` open a real system turn. So the chat is rendered with a
placeholder for every message's content; the template's text around the placeholders is
tokenized with special tokens, and the contents themselves as plain text.
"""

from __future__ import annotations

import re
from typing import Callable

# Private-use characters: no template writes them and they survive `trim` and friends.
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")

# (text, special) -> token ids, without BOS; e.g. Llama.tokenize with add_bos=False.
Tokenize = Callable[[str, bool], list[int]]


def template_and_content(render: Callable[[list[dict]], str], messages: list[dict]) -> list[tuple[str, bool]]:
    """The rendered chat as (text, is_template) pieces, in order.

    Args:
        render: renders messages with the chat template (the same one the engine uses).
        messages: chat messages ({"role", "content"}).
    """
    stand_ins = [{**message, "content": f"{_OPEN}{i}{_CLOSE}"} for i, message in enumerate(messages)]
    rendered = render(stand_ins)
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in _PLACEHOLDER.finditer(rendered):
        pieces.append((rendered[at:match.start()], True))
        pieces.append((str(messages[int(match.group(1))].get("content") or ""), False))
        at = match.end()
    pieces.append((rendered[at:], True))
    return [(text, is_template) for text, is_template in pieces if text]


def tokenize_chat(render: Callable[[list[dict]], str], tokenize: Tokenize, messages: list[dict],
                  bos: list[int] = ()) -> list[int]:
    """Token ids of the rendered chat: template text with special tokens, contents without.

    Args:
        render: renders messages with the chat template.
        tokenize: (text, special) -> ids, never adding BOS.
        messages: chat messages; their contents are user-supplied text.
        bos: the BOS id(s) to put first, when the model wants one.
    """
    tokens = list(bos)
    for text, is_template in template_and_content(render, messages):
        tokens += tokenize(text, is_template)
    return tokens
