"""A pasted page used as a search query is refused at once, in one sentence.

Before, 40,000 words became one FTS5 query (or 40,000 LIKE clauses) that took minutes and
gigabytes; the property test over arbitrary text found it.
"""

from __future__ import annotations

import pytest

from app.errors import InputError

PAGE = " ".join(f"word{i}" for i in range(40_000))


def test_a_huge_history_search_is_one_sentence(app):
    with pytest.raises(InputError, match="at most 32"):
        app.log.search(PAGE)
    assert app.log.search("hello there") == []


def test_a_huge_memory_search_is_one_sentence(app):
    with pytest.raises(InputError, match="at most 32"):
        app.memories().list(query=PAGE)
    # Repeating one word is one word.
    assert app.memories().list(query="word " * 100_000) == []


def test_a_huge_remember_request_is_refused_before_anything_is_logged(app):
    from app.conversations import Conversation

    with pytest.raises(InputError, match="too long to remember"):
        app.chat().reply(Conversation(), "remember that " + "word " * 100_000)
    assert app.log.list() == []
