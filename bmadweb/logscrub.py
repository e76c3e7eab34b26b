"""A logging filter that removes secrets from every log record.

Known secrets register themselves (`register_secret`) when they are decrypted for use;
patterns catch the rest (tokens in URLs, Authorization headers, common token shapes).

A hostile remote or forge may echo a secret back in another spelling, so a known secret
is also found (docs/security.md#s8, gap G7):

* in any letter case;
* URL-encoded, wholly or in part (``%67hp_…``, either hex case, ``+`` or ``%20`` for a
  space);
* split by whitespace or line breaks between its characters (git's ``remote:`` line
  prefix included);
* as base64 (standard or URL-safe, padded or not), also inside a longer base64 text such
  as an ``Authorization: Basic`` value, at any of the three byte alignments.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable

_PATTERNS = [
    re.compile(r"(?i)(https?://)[^/@\s:]+(:[^/@\s]*)?@"),  # user:token@ in URLs
    re.compile(r"(?i)(authorization:\s*)(bearer|token|basic)\s+\S+"),
    re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_\-]{20,})\b"),
]
_lock = threading.Lock()
_known: dict[str, re.Pattern[str]] = {}
REDACTED = "[redacted]"
MIN_SECRET = 6
MIN_BASE64_CORE = 8  # shorter encoded fragments would match ordinary text
# What may separate the characters of an echo: whitespace (encoded or not) and git's
# "remote:" prefix on a continued line.
_GAP = r"(?:\s|%20|%09|%0a|%0d|\+|remote:)*"


def _char(ch: str) -> str:
    """One character of a secret: itself (any case) or its percent-encoding."""
    spellings = [re.escape(ch), "".join(f"%{byte:02x}" for byte in ch.encode("utf-8"))]
    if ch == " ":
        spellings.append(r"\+")
    return "(?:" + "|".join(spellings) + ")"


def _base64_cores(secret: bytes) -> set[str]:
    """The base64 text that encodes `secret` whatever bytes surround it: for each of the
    three alignments, the characters that depend on the secret's bytes alone."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret + b"\0\0").decode("ascii")
        start = -(-offset * 8 // 6)  # ceil: characters touched by the prefix
        end = (offset + len(secret)) * 8 // 6  # floor: characters before the suffix
        core = encoded[start:end]
        if len(core) >= MIN_BASE64_CORE:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def _variants(secret: str) -> re.Pattern[str]:
    spelled = _GAP.join(_char(ch) for ch in secret)
    encoded = sorted(_base64_cores(secret.encode("utf-8")), key=len, reverse=True)
    alternatives = [spelled, *(re.escape(core) for core in encoded)]
    # Case-insensitive for the spellings; base64 is matched exactly (its letters' case
    # carries the data), so it goes in a case-sensitive group.
    return re.compile("(?i:" + spelled + ")" + "".join(f"|{alt}" for alt in alternatives[1:]))


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is removed from any later log line."""
    if value and len(value) >= MIN_SECRET:
        with _lock:
            if value not in _known:
                _known[value] = _variants(value)


def scrub_values(text: str, secrets: Iterable[str]) -> str:
    """`text` with each of `secrets` removed in any of the spellings above."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True):
        with _lock:
            pattern = _known.get(secret)
        text = (pattern or _variants(secret)).sub(REDACTED, text)
    return text


def scrub(text: str) -> str:
    """Return `text` with every known secret and secret-shaped string replaced."""
    with _lock:
        known = sorted(_known.items(), key=lambda item: len(item[0]), reverse=True)
    for _secret, pattern in known:
        text = pattern.sub(REDACTED, text)
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
