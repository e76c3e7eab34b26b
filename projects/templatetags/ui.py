"""Small filters for the pages: status words, counted nouns, code in finding text."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_BACKTICKS = re.compile(r"`([^`\n]{1,300})`")


@register.filter
def words(value: object) -> str:
    """A status name in words: "awaiting_approval" → "awaiting approval"."""
    return str(value or "").replace("_", " ").replace("-", " ")


@register.filter
def counted(value: object, noun: str) -> str:
    """ "1 finding", "2 findings"; `noun` may give the plural after a comma ("entry,entries")."""
    try:
        n = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        n = len(value) if hasattr(value, "__len__") else 0
    one, _, many = noun.partition(",")
    return f"{n} {one if n == 1 else (many or one + 's')}"


@register.filter
def codespans(value: object) -> SafeString:
    """Escape the text, then show `backticked` words as code."""
    escaped = escape(str(value or ""))
    return mark_safe(_BACKTICKS.sub(r"<code>\1</code>", escaped))  # noqa: S308  (escaped above)
