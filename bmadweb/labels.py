"""Label values for metrics: always from a closed set, never user data (docs/security.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


def closed_label(value: str, choices: Iterable[str]) -> str:
    """`value` if it is one of `choices`, else "other" (a hand-edited row, say)."""
    return value if value in set(choices) else "other"
