"""Spot secrets (passwords, keys, card and account numbers) so they never become memories.

Used by the memory service (nothing secret is stored) and by the training-set builder (nothing
secret is trained). It errs on the side of refusing: a refused memory costs the user a retype,
a stored password costs far more.
"""

from __future__ import annotations

import re

# "password: hunter2", "my PIN is 1234", "passcode = ..." — a secret word followed by a value.
_SECRET_WORD = re.compile(
    r"\b(pass(?:word|wd|phrase|code)|pwd|pin(?:\s*code)?|security\s+(?:code|answer)|"
    r"cvv|cvc|one[- ]time\s+code|otp|2fa\s+code|recovery\s+(?:code|phrase)|seed\s+phrase)"
    r"\b\s*(?:is|was|=|:|-)\s*\S+",
    re.I,
)
_KEY_WORD = re.compile(
    r"\b(api[\s_-]?key|access[\s_-]?key|secret(?:[\s_-]?key)?|token|bearer|private[\s_-]?key|"
    r"client[\s_-]?secret|auth(?:orization)?)\b\s*(?:is|was|=|:)\s*\S{6,}",
    re.I,
)
# Well-known key formats (OpenAI, Stripe, GitHub, Slack, AWS, Google, JWT, PEM).
_KNOWN_KEYS = re.compile(
    r"\b(sk|pk|rk)[-_](?:live_|test_|proj-)?[A-Za-z0-9]{16,}|\bgh[pousr]_[A-Za-z0-9]{20,}|"
    r"\bgithub_pat_[A-Za-z0-9_]{20,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bAKIA[0-9A-Z]{16}\b|"
    r"\bAIza[0-9A-Za-z_-]{30,}|\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----"
)
# A long token mixing letters and digits, like most generated keys and hashes.
_RANDOM_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z0-9+/_=-]*\d)(?=[A-Za-z0-9+/_=-]*[A-Za-z])"
                           r"[A-Za-z0-9+/_=-]{24,}(?![A-Za-z0-9])")
# Digits in groups separated by spaces or dashes ("4111 1111 1111 1111").
_DIGIT_GROUPS = re.compile(r"(?<![\d])\d(?:[ -]?\d){8,}(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_ID_WORDS = re.compile(
    r"\b(account|acct|routing|sort\s+code|iban|swift|bic|social\s+security|ssn|passport|"
    r"tax\s+id|national\s+insurance|card)\s*(?:number|no\.?|#)?\s*(?:is|=|:)?\s*[A-Z]{0,4}\d[\d -]{4,}",
    re.I,
)
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")

# A run of this many digits (separators aside) is refused: card, account, ID or phone numbers.
LONG_DIGIT_RUN = 9


def _luhn_ok(digits: str) -> bool:
    """The checksum every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    """ISO 13616 mod-97 check, so ordinary capitalised words are not taken for IBANs."""
    compact = text.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def find_secret(text: str) -> str | None:
    """Why `text` must not be stored or trained, or None when it looks safe.

    Args:
        text: a memory or training text.

    Returns:
        A short reason such as "it looks like a password", or None.
    """
    if _KNOWN_KEYS.search(text) or _KEY_WORD.search(text):
        return "it looks like an API key or access token"
    if _SECRET_WORD.search(text):
        return "it looks like a password or PIN"
    for match in _IBAN.finditer(text):
        if _iban_ok(match.group(0)):
            return "it looks like a bank account number (IBAN)"
    if _SSN.search(text) or _ID_WORDS.search(text):
        return "it looks like an account, card or ID number"
    for match in _DIGIT_GROUPS.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            return "it looks like a payment card number"
        if len(digits) >= LONG_DIGIT_RUN:
            return f"it contains a long run of digits ({len(digits)}), like an account or card number"
    if _RANDOM_TOKEN.search(text):
        return "it contains a long random-looking code, like a key or token"
    return None
