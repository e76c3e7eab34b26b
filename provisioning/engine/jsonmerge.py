"""Key-by-key 3-way merge of JSON files (docs/bmad.md#json-merge).

`merge_json(base, ours, theirs)` merges the repository's text (ours) and the generator's
new text (theirs) against the text bmadweb wrote last (base), one key path at a time,
with the rules of the TOML merge (`tomlmerge`):

- a key changed on one side only takes that side's value (added, changed or removed);
- a key changed on both sides to the same value is fine;
- a key changed on both sides differently is a conflict for that key path: it is
  reported, and the file is not merged (never written with markers);
- objects merge key by key (an object both sides added merges too); any other value,
  arrays included, is one value. Values compare with their types (`1` is not `true`,
  `null` is a value, an absent key is not).

The merged text keeps ours' key order (theirs' new keys follow, in theirs' order) and
ours' indentation (2 spaces when the file has none to copy). It is parsed again and must
equal the merge of plain values. A side that is not valid JSON, or has a duplicate key,
is reported instead of merged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from provisioning.engine.tomlmerge import ABSENT, key_part, same

ROOT_KEY = "(the whole document)"
_INDENT = re.compile(r"\n([ \t]+)\S")


class JsonTextError(ValueError):
    """A text that is not a JSON document bmadweb can edit (invalid, duplicate keys)."""


@dataclass(frozen=True, slots=True)
class JsonKeyConflict:
    """One key path both sides changed differently (values are not kept: MCP files
    carry credentials, and conflicts end up in plans and logs)."""

    key: str  # e.g. `mcpServers.github.args`


@dataclass(frozen=True, slots=True)
class JsonMergeResult:
    text: str | None  # the merged text when clean, else None
    conflicts: tuple[JsonKeyConflict, ...] = ()
    problem: str | None = None  # why the texts could not be merged at all

    @property
    def clean(self) -> bool:
        return self.text is not None


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise JsonTextError(f"the key {json.dumps(key, ensure_ascii=False)} appears twice")
        found[key] = value
    return found


def _constant(name: str) -> Any:
    raise JsonTextError(f"{name} is not JSON")


def load_json(text: str) -> Any:
    """Plain value of a JSON text; JsonTextError when invalid or a key repeats."""
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except JsonTextError:
        raise
    except (ValueError, RecursionError) as exc:
        raise JsonTextError(f"not valid JSON ({exc})") from None


def indent_of(text: str | None) -> int | str:
    """The indentation to write `text` back with: its own (spaces or a tab), else 2 spaces
    (a new file, or one written on a single line)."""
    found = _INDENT.search(text or "")
    if found is None:
        return 2
    unit = found.group(1)
    return "\t" if unit.startswith("\t") else len(unit)


def dumps_like(value: Any, like: str | None) -> str:
    """`value` as JSON text laid out like `like` (indentation, final newline)."""
    indent = indent_of(like)
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    newline = like is None or like.endswith("\n")
    return text + "\n" if newline else text


def _join(path: str, name: str) -> str:
    return f"{path}.{key_part(name)}" if path else key_part(name)


class _Merger:
    def __init__(self) -> None:
        self.conflicts: list[JsonKeyConflict] = []

    def value(self, base: Any, ours: Any, theirs: Any, path: str) -> Any:
        """The merged value of one key path (ABSENT: the key goes)."""
        if same(theirs, base) or same(ours, theirs):
            return ours
        if same(ours, base):
            return theirs
        both_objects = isinstance(ours, dict) and isinstance(theirs, dict)
        if both_objects and (base is ABSENT or isinstance(base, dict)):
            return self.object(base if isinstance(base, dict) else {}, ours, theirs, path)
        self.conflicts.append(JsonKeyConflict(path or ROOT_KEY))
        return ours

    def object(
        self, base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any], path: str
    ) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for key in [*ours, *(k for k in theirs if k not in ours)]:
            b, o, t = (side.get(key, ABSENT) for side in (base, ours, theirs))
            value = self.value(b, o, t, _join(path, key))
            if value is not ABSENT:
                merged[key] = value
        return merged


def merge_values(base: Any, ours: Any, theirs: Any) -> tuple[Any, tuple[JsonKeyConflict, ...]]:
    """The merge of three plain JSON values: (merged, conflicts)."""
    merger = _Merger()
    merged = merger.value(base, ours, theirs, "")
    return merged, tuple(merger.conflicts)


def merge_json(base: str, ours: str, theirs: str) -> JsonMergeResult:
    """Merge `ours` and `theirs` against `base` key by key; never writes markers."""
    plain: list[Any] = []
    for side, text in (("last written", base), ("repository's", ours), ("generator's", theirs)):
        try:
            plain.append(load_json(text))
        except JsonTextError as exc:
            return JsonMergeResult(None, problem=f"the {side} text: {exc}")
    b, o, t = plain
    merged, conflicts = merge_values(b, o, t)
    if conflicts:
        return JsonMergeResult(None, conflicts)
    if same(merged, o):
        return JsonMergeResult(ours)
    text = dumps_like(merged, ours)
    if not same(load_json(text), merged):  # pragma: no cover - json round-trips its own output
        return JsonMergeResult(None, problem="the merged keys could not be written back")
    return JsonMergeResult(text)
