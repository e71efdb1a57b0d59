"""Spot secrets (passwords, PINs, keys, card and account numbers) so they never become memories.

Used by the memory service (nothing secret is stored) and by the training-set builder (nothing
secret is trained). Known key formats come from detect-secrets' plugins (offline regexes, kept up
to date by Yelp); how people *say* a password in a sentence is ours. It errs on the side of
refusing, except for phone numbers, which are personal facts a user wants remembered.
tests/data/secrets_cases.tsv is the table of phrasings it is held to.
"""

from __future__ import annotations

import functools
import re

# Words that name a secret. "pw"/"pass" only count with ":" or "=" (see _SHORT_WORD).
_WORD = (r"(?:pass(?:word|wd|phrase|code)s?|pin(?:\s+(?:number|code))?|cvv2?|cvc2?|csc|"
         r"security\s+(?:code|answer)|one[- ]time\s+(?:code|password)|otp|"
         r"(?:2fa|mfa|backup|recovery)\s+(?:code|phrase)|seed\s+phrase|"
         r"(?:door|gate|alarm|lock|safe|garage|entry|access)\s+code|"
         r"code\s+(?:for|to|of)\s+(?:the\s+|my\s+|our\s+)?(?:[\w-]+\s+)?"
         r"(?:door|gate|alarm|safe|lock|garage|building|house|flat|apartment|entrance))")
# After "my password is", words that describe the password instead of giving it.
_NOT_A_VALUE = (r"(?!(?:too|very|so|quite|really|not|never|a|an|the|my|in|on|at|stored|saved|kept|"
                r"written|expired|wrong|incorrect|weak|strong|long|short|secure|safe|reset|changed|"
                r"different|same|easy|hard|simple|complicated|required|needed|missing|locked|"
                r"forgotten|lost|case|what|which|something|somewhere)\b)")
_VALUE = r"[^\s,;]*[^\s,;.?!]"
# "my password is X", "the password for my wifi is X", "my password's X", "PIN: X", "PIN 4821".
_SECRET_IS = re.compile(
    rf"\b{_WORD}\b(?:\s+(?:for|to|of|on)\s+(?:my|the|our)?\s*[\w'-]+(?:\s+[\w'-]+)?)?"
    rf"(?:\s*(?:=|:|-)|\s+(?:is|was|will\s+be)|'s)\s*(?:still\s+|now\s+)?{_NOT_A_VALUE}{_VALUE}",
    re.I,
)
# A secret word followed straight by something code-like: "my PIN 4821", "password hunter2".
_SECRET_THEN_CODE = re.compile(rf"\b{_WORD}\s+(?=\S*\d)[^\s,;]+", re.I)
_SHORT_WORD = re.compile(r"\b(?:pw|pwd|pass|creds?|credentials)\s*(?:=|:)\s*\S+", re.I)
# "hunter2 is my password", "I use hunter2 as my password".
_VALUE_IS_SECRET = re.compile(
    rf"(?<![\w'])(?!(?:it|this|that|what|which|who|there|here|mine|yours|one)\b)\S+\s+"
    rf"(?:is|was|=)\s+(?:my|our|the)\s+(?:[\w-]+\s+)?{_WORD}\b(?!\s+(?:manager|pad|reader|reset|"
    rf"hint|policy|rules?|app|field|box|screen)\b)", re.I)
_USE_AS_SECRET = re.compile(
    rf"\b(?:use|used|using|set|chose|picked|have)\s+\S+\s+as\s+(?:my|our|the|a)\s+(?:[\w-]+\s+)?{_WORD}\b",
    re.I)
# "My login is alice and it's hunter2": a login followed by what goes with it.
_LOGIN_AND = re.compile(
    r"\b(?:login|log-in|username|user\s+name|user\s*id|sign[- ]in)\b.{0,40}?"
    r"(?:\band\b|,|;|/)\s*(?:it'?s|its|it\s+is|(?:the\s+|my\s+)?pass\w*\s+is)\s+\S+", re.I)
_LOGIN_PAIR = re.compile(r"\b(?:login|username|user)\s*(?::|=)\s*\S+\s*(?:/|:)\s*\S+", re.I)

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_ID_WORDS = re.compile(
    r"\b(account|acct|routing|sort\s+code|iban|swift|bic|social\s+security|ssn|passport|"
    r"tax\s+id|national\s+insurance|card)\s*(?:number|no\.?|#)?\s*(?:is|=|:)?\s*[A-Z]{0,4}\d[\d -]{4,}",
    re.I,
)
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
# Digits in groups separated by spaces, dashes or dots ("4111.1111.1111.1111"), at least 9.
_DIGIT_GROUPS = re.compile(r"(?<![\d.,])\+?\(?\d(?:[ .()-]{0,2}\d){8,}(?![\d])")
# A phone number: an international "+CC ...", a "(555) ..." area code, or a number right after
# a word that says it is one. Phones are personal facts, not secrets.
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|mobile|cell|tel|telephone|call|text|ring|reach|whatsapp|signal|fax|number)\b"
    r"[^\d+()]{0,20}$", re.I)
_ZIP_PLUS4 = re.compile(r"^\d{5}-\d{4}$")
PHONE_DIGITS = (7, 15)  # E.164 allows at most 15

# A run of this many digits (separators aside) is refused: card, account or ID numbers.
LONG_DIGIT_RUN = 9

# Every key format detect-secrets knows, except the ones that are not secrets in a sentence.
_NOT_KEYS = {"Public IP (ipv4)", "Secret Keyword", "Base64 High Entropy String",
             "Hex High Entropy String"}


@functools.cache
def _key_detectors() -> list:
    """detect-secrets' plugins, loaded on first use (importing them all takes a quarter second)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    return [cls() for kind, cls in sorted(get_mapping_from_secret_type_to_class().items())
            if kind not in _NOT_KEYS]

_KEY_WORD = re.compile(
    r"\b(api[\s_-]?key|access[\s_-]?key|secret(?:[\s_-]?(?:access[\s_-]?)?key)?|token|bearer|"
    r"private[\s_-]?key|client[\s_-]?secret|auth(?:orization)?)\b\s*(?:is|was|=|:)?\s*"
    r"(?=[^\s]*\d)[A-Za-z0-9+/_.=-]{8,}",
    re.I,
)
_OPENAI = re.compile(r"\b(sk|pk|rk)[-_](?:live_|test_|proj-)?[A-Za-z0-9]{16,}")
# A long token mixing letters and digits, like most generated keys and hashes.
_RANDOM_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z0-9+/_=-]*\d)(?=[A-Za-z0-9+/_=-]*[A-Za-z])"
                           r"[A-Za-z0-9+/_=-]{24,}(?![A-Za-z0-9])")


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


def _is_phone(text: str, match: re.Match, digits: str) -> bool:
    if not PHONE_DIGITS[0] <= len(digits) <= PHONE_DIGITS[1]:
        return False
    number = match.group(0)
    if number.startswith("+"):
        return True
    if 13 <= len(digits) and _luhn_ok(digits):  # a card number is never waved through as a phone
        return False
    return number.startswith("(") or bool(_PHONE_CONTEXT.search(text[: match.start()]))


def _has_key(text: str) -> bool:
    for detector in _key_detectors():
        if any(detector.analyze_string(text)):
            return True
    return bool(_OPENAI.search(text) or _KEY_WORD.search(text))


def _said_password(text: str) -> bool:
    return any(p.search(text) for p in (_SECRET_IS, _SECRET_THEN_CODE, _SHORT_WORD, _VALUE_IS_SECRET,
                                        _USE_AS_SECRET, _LOGIN_AND, _LOGIN_PAIR))


def find_secret(text: str) -> str | None:
    """Why `text` must not be stored or trained, or None when it looks safe.

    Args:
        text: a memory or training text.

    Returns:
        A short reason such as "it looks like a password", or None.
    """
    if _has_key(text):
        return "it looks like an API key or access token"
    if _said_password(text):
        return "it looks like a password or PIN"
    for match in _IBAN.finditer(text):
        if _iban_ok(match.group(0)):
            return "it looks like a bank account number (IBAN)"
    if _SSN.search(text) or _ID_WORDS.search(text):
        return "it looks like an account, card or ID number"
    for match in _DIGIT_GROUPS.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn_ok(digits) and not match.group(0).startswith("+"):
            return "it looks like a payment card number"
        if _is_phone(text, match, digits) or _ZIP_PLUS4.match(match.group(0)):
            continue
        if len(digits) >= LONG_DIGIT_RUN:
            return f"it contains a long run of digits ({len(digits)}), like an account or card number"
    if _RANDOM_TOKEN.search(text):
        return "it contains a long random-looking code, like a key or token"
    return None
