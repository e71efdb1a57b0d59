"""Conversation titles are cut at a word boundary, with an ellipsis."""

from __future__ import annotations

from app.conversations import TITLE_CHARS, short_title


def test_a_long_first_message_is_cut_between_words():
    text = ("I am going to Lisbon for a week in March with my two kids. What should I plan "
            "for each day?")
    title = short_title(text)
    assert title == "I am going to Lisbon for a week in March with my two kids…"
    assert len(title) <= TITLE_CHARS
    kept = title[:-1].split()
    assert [w.rstrip(".") for w in text.split()[:len(kept)]] == kept  # whole words only


def test_a_short_message_is_kept_whole_and_spaces_are_tidied():
    assert short_title("  What should   I plant\nin May? ") == "What should I plant in May?"


def test_a_word_that_ends_exactly_at_the_limit_is_kept():
    text = "abcd " * 11 + "abcd efgh"  # 59 characters, then " efgh"
    title = short_title(text, limit=60)
    assert title == "abcd " * 11 + "abcd…"


def test_one_endless_word_is_cut_because_nothing_else_can_be():
    title = short_title("x" * 200)
    assert title == "x" * (TITLE_CHARS - 1) + "…"


def test_the_log_titles_a_new_conversation_from_its_first_message(app):
    conversation_id = app.log.create("Can you explain how photosynthesis works in plants that "
                                     "live in deserts?")
    assert app.log.get(conversation_id)["title"] == (
        "Can you explain how photosynthesis works in plants that…")
