"""Answers the user corrected or liked in chat: the nightly job trains them with the memories."""

from __future__ import annotations

from app.context import Nocturne

FEEDBACK_LIMIT = 200  # the newest rated answers only, so they cannot crowd out the memories


def rated_answers(app: Nocturne) -> list[tuple[int, tuple[str, str, str]]]:
    """(message id, (kind, user message, answer)) for corrected and liked assistant messages,
    newest first: what the nightly job trains, and the ids a continued night checks."""
    rows = app.store.query(
        "SELECT a.id, a.content, a.correction, a.rating, (SELECT u.content FROM messages u "
        "WHERE u.conversation_id = a.conversation_id AND u.id < a.id AND u.role = 'user' "
        "ORDER BY u.id DESC LIMIT 1) AS question FROM messages a WHERE a.role = 'assistant' "
        "AND (a.correction IS NOT NULL OR a.rating = 1) ORDER BY a.id DESC LIMIT ?",
        (FEEDBACK_LIMIT,),
    )
    rated = []
    for row in rows:
        if not row["question"]:
            continue
        if row["correction"]:
            rated.append((row["id"], ("correction", row["question"], row["correction"])))
        elif row["content"]:
            rated.append((row["id"], ("liked", row["question"], row["content"])))
    return rated

