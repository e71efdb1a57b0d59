"""The secrets filter against a table of real phrasings, secret and not (tests/data/secrets_cases.tsv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.secrets_filter import find_secret

TABLE = Path(__file__).parent / "data" / "secrets_cases.tsv"


def cases() -> list[tuple[str, str]]:
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            expected, text = line.split("\t")
            assert expected in ("secret", "safe"), line
            rows.append((expected, text))
    return rows


def test_the_table_is_large_and_balanced():
    expected = [e for e, _ in cases()]
    assert len(expected) >= 100
    assert expected.count("secret") >= 40 and expected.count("safe") >= 40


@pytest.mark.parametrize("expected, text", cases(), ids=lambda v: v if v in ("secret", "safe") else None)
def test_each_phrasing(expected, text):
    reason = find_secret(text)
    if expected == "secret":
        assert reason is not None, f"missed a secret: {text!r}"
    else:
        assert reason is None, f"refused {text!r}: {reason}"


def test_card_numbers_are_luhn_checked():
    assert find_secret("4111 1111 1111 1111") == "it looks like a payment card number"
    # The same digits with a wrong checksum are still a long digit run, but not a card.
    assert find_secret("4111 1111 1111 1112") != "it looks like a payment card number"
