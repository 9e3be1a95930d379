"""Secrets: which env entries must never be shown or written, by key name *and* by what the value looks like.

A key name alone misses `DB_PASS`, an `Authorization: Bearer …` header kept in `EXTRA_HEADERS`, or an `hf_…`
token pasted into a variable with an innocent name. The value patterns below catch the common token shapes.
"""

from __future__ import annotations

import re

REDACTED = "***"

# Key names: TOKEN, KEY, SECRET, PASSWORD/PASSWD/PASS/PWD, CREDENTIAL(S), AUTH, COOKIE, SESSION.
SECRET_KEY = re.compile(r"TOKEN|KEY|SECRET|PASSW(OR)?D|(^|_)PASS($|_)|(^|_)PWD($|_)|CREDENTIAL|AUTH|COOKIE|SESSION",
                        re.IGNORECASE)

# Values: bearer/basic credentials, Hugging Face, GitHub, OpenAI-style, Slack, AWS access keys, JWTs,
# private keys, and user:password@ in URLs.
SECRET_VALUE = re.compile(
    r"(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?i:\bbasic\s+)[A-Za-z0-9+/=]{8,}"
    r"|\bhf_[A-Za-z0-9]{16,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bsk-[A-Za-z0-9_-]{16,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"
)


def is_secret(key: str, value: str) -> bool:
    """True for env entries that must not be shown or written: a secret-looking key or value (non-empty)."""
    return bool(value) and (bool(SECRET_KEY.search(key)) or bool(SECRET_VALUE.search(value)))


def redact_env(env: tuple[tuple[str, str], ...] | dict[str, str]) -> dict[str, str]:
    """Env with secret values (by key name or by value pattern) replaced by ***."""
    items = env.items() if isinstance(env, dict) else env
    return {k: (REDACTED if is_secret(k, v) else v) for k, v in items}


def redact_text(text: str) -> str:
    """Free text (an error, a log line) with token-shaped substrings replaced by ***."""
    return SECRET_VALUE.sub(REDACTED, text)
