"""A logging filter that removes secrets from every log record.

Known secrets register themselves (`register_secret`) when they are decrypted for use;
patterns catch the rest (tokens in URLs, Authorization headers, common token shapes).
"""

from __future__ import annotations

import logging
import re
import threading

_PATTERNS = [
    re.compile(r"(?i)(https?://)[^/@\s:]+(:[^/@\s]*)?@"),  # user:token@ in URLs
    re.compile(r"(?i)(authorization:\s*)(bearer|token|basic)\s+\S+"),
    re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_\-]{20,})\b"),
]
_lock = threading.Lock()
_known: set[str] = set()
REDACTED = "[redacted]"


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is removed from any later log line."""
    if value and len(value) >= 6:
        with _lock:
            _known.add(value)


def scrub(text: str) -> str:
    """Return `text` with every known secret and secret-shaped string replaced."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)} {REDACTED}", text)
    return _PATTERNS[2].sub(REDACTED, text)


class ScrubSecretsFilter(logging.Filter):
    """Replace the record's message with its scrubbed rendering, traceback and stack
    included, so no handler can print the raw text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # a malformed call: the handler reports it (handleError)
        if record.exc_info and record.exc_info[1] is not None:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
        # The rendered text replaces msg and args: a "%" in a traceback or secret must
        # not be formatted a second time.
        record.msg, record.args = scrub(message), None
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True
