"""Key-by-key 3-way merge of TOML files (docs/bmad.md#toml-merge).

`merge_toml(base, ours, theirs)` merges the repository's text (ours) and the generator's
new text (theirs) against the text bmadweb wrote last (base), one key path at a time:

- a key changed on one side only takes that side's value (added, changed or removed);
- a key changed on both sides to the same value is fine;
- a key changed on both sides differently is a conflict for that key path: it is
  reported, and the file is not merged (never written with markers);
- tables merge key by key, and arrays of tables whose items all carry a distinct `code`
  (else `id`) merge item by item, as BMAD's own resolver layers them; any other value,
  arrays included, is one value.

The merged text is ours edited in place with tomlkit, so the team's comments, order and
layout stay; values taken from theirs keep theirs' layout. The result is parsed again
and compared with the merge of plain values: what is written is exactly what was merged.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, InlineTable, Item, Table


class _Absent:
    """A key that a side does not have (TOML has no null, so None is not ambiguous)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()
ITEM_KEYS = ("code", "id")  # how BMAD's resolver matches items of arrays of tables
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class KeyConflict:
    """One key path both sides changed differently; None stands for "no such key"."""

    key: str  # e.g. `agent.menu[code="S1"].description`
    base: Any
    ours: Any
    theirs: Any


@dataclass(frozen=True, slots=True)
class TomlMergeResult:
    text: str | None  # the merged text when clean, else None
    conflicts: tuple[KeyConflict, ...] = ()
    problem: str | None = None  # why the texts could not be merged at all

    @property
    def clean(self) -> bool:
        return self.text is not None


def same(a: Any, b: Any) -> bool:
    """Equal TOML values: types must match (1 is not true), key order does not count."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def key_part(name: str) -> str:
    """A key as TOML writes it in a dotted path: bare when it can be, quoted otherwise."""
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def join_key(path: str, name: str) -> str:
    """The dotted path of key `name` under `path` (`""` for the top level)."""
    return f"{path}.{key_part(name)}" if path else key_part(name)


def _item_id(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def item_field(*sides: Any) -> str | None:
    """The field (`code`, else `id`) that identifies every item of these arrays of tables,
    or None when they are not such arrays (an absent side is allowed)."""
    lists = [side for side in sides if side is not ABSENT]
    if not lists or not all(isinstance(side, list) for side in lists):
        return None
    items = [item for side in lists for item in side]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for name in ITEM_KEYS:
        values = [item.get(name) for item in items]
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
            continue
        if all(len({(type(i[name]), i[name]) for i in side}) == len(side) for side in lists):
            return name
    return None


class _Merger:
    def __init__(self) -> None:
        self.conflicts: list[KeyConflict] = []

    def value(self, base: Any, ours: Any, theirs: Any, path: str) -> Any:
        """The merged value of one key path (ABSENT: the key goes)."""
        if same(theirs, base) or same(ours, theirs):
            return ours
        if same(ours, base):
            return theirs
        both_tables = isinstance(ours, dict) and isinstance(theirs, dict)
        if both_tables and (base is ABSENT or isinstance(base, dict)):
            return self.table(base if isinstance(base, dict) else {}, ours, theirs, path)
        present = ours is not ABSENT and theirs is not ABSENT
        field = item_field(base, ours, theirs) if present else None
        if field is not None:
            return self.items(base, ours, theirs, field, path)
        sides = (None if v is ABSENT else v for v in (base, ours, theirs))
        self.conflicts.append(KeyConflict(path, *sides))
        return ours

    def table(
        self, base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any], path: str
    ) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for key in [*ours, *(k for k in theirs if k not in ours)]:
            b, o, t = (side.get(key, ABSENT) for side in (base, ours, theirs))
            value = self.value(b, o, t, join_key(path, key))
            if value is not ABSENT:
                merged[key] = value
        return merged

    def items(
        self, base: Any, ours: list[Any], theirs: list[Any], field: str, path: str
    ) -> list[Any]:
        """Items matched by `field`: ours' order, then theirs' new items in theirs' order."""
        by_base = {i[field]: i for i in base} if isinstance(base, list) else {}
        by_ours = {i[field]: i for i in ours}
        by_theirs = {i[field]: i for i in theirs}
        merged = []
        for key in [*by_ours, *(k for k in by_theirs if k not in by_ours)]:
            b, o, t = (side.get(key, ABSENT) for side in (by_base, by_ours, by_theirs))
            value = self.value(b, o, t, f"{path}[{field}={_item_id(key)}]")
            if value is not ABSENT:
                merged.append(value)
        return merged


def merge_values(base: Any, ours: Any, theirs: Any) -> tuple[Any, tuple[KeyConflict, ...]]:
    """The merge of three plain TOML values (documents are dicts): (merged, conflicts)."""
    merger = _Merger()
    merged = merger.value(base, ours, theirs, "")
    return merged, tuple(merger.conflicts)


# --- Writing the merge back into ours, in place -------------------------------------------


def _child(node: Any, key: str | int) -> Any:
    """`node[key]` of theirs' document, or None."""
    if node is None or (isinstance(key, int) and key < 0):
        return None
    try:
        return node[key]
    except (KeyError, IndexError, TypeError):
        return None


def _taken(node: Any, found: Any, their_value: Any, wanted: Any) -> Any:
    """What to put into ours' `node` for a value that comes from theirs: theirs' own item
    (its layout kept) when it fits there, else the plain value for tomlkit to lay out."""
    if isinstance(node, InlineTable | Array) or not isinstance(found, Item):
        return wanted
    if not same(their_value, wanted) or (isinstance(node, AoT) and not isinstance(found, Table)):
        return wanted
    return copy.deepcopy(found)


def _write_table(
    node: Any, ours: dict[str, Any], merged: dict[str, Any], theirs: Any, t: Any
) -> None:
    """Make the table `node` (ours' plain value `ours`) hold `merged`; `theirs` is the same
    table in theirs' document (or None) and `t` its plain value."""
    t = t if isinstance(t, dict) else {}
    for key in [k for k in ours if k not in merged]:
        del node[key]
    for key, wanted in merged.items():
        old, their_value = ours.get(key, ABSENT), t.get(key, ABSENT)
        if same(old, wanted):
            continue
        if isinstance(old, dict) and isinstance(wanted, dict):
            _write_table(node[key], old, wanted, _child(theirs, key), their_value)
            continue
        field = item_field(old, wanted) if old is not ABSENT else None
        if field is not None and _in_place(old, wanted, field):
            _write_items(node[key], old, wanted, field, _child(theirs, key), their_value)
            continue
        node[key] = _taken(node, _child(theirs, key), their_value, wanted)


def _in_place(ours: list[Any], merged: list[Any], field: str) -> bool:
    """Whether `merged` is ours' items that stay, in ours' order, then new items only."""
    kept = [item[field] for item in ours if item[field] in {i[field] for i in merged}]
    return [item[field] for item in merged[: len(kept)]] == kept


def _write_items(
    node: Any, ours: list[Any], merged: list[Any], field: str, theirs: Any, t: Any
) -> None:
    """Make the array of tables `node` hold `merged` (matched by `field`)."""
    t = t if isinstance(t, list) else []
    where = {item.get(field): i for i, item in enumerate(t) if isinstance(item, dict)}
    wanted = {item[field]: item for item in merged}
    for index in reversed(range(len(ours))):
        if ours[index][field] not in wanted:
            del node[index]
    kept = [item for item in ours if item[field] in wanted]
    for index, old in enumerate(kept):
        new = wanted[old[field]]
        if not same(old, new):
            at = where.get(old[field], -1)
            _write_table(node[index], old, new, _child(theirs, at), t[at] if at >= 0 else None)
    for new in merged[len(kept) :]:
        at = where.get(new[field], -1)
        item = _taken(node, _child(theirs, at), t[at] if at >= 0 else None, new)
        if isinstance(node, AoT):  # a blank line before each new [[table]], as a person writes
            item = item if isinstance(item, Table) else tomlkit.item(item)
            item.trivia.indent = "\n"
        node.append(item)


def _load(text: str, side: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        return None, f"the {side} text is not valid TOML ({exc})"


def merge_toml(base: str, ours: str, theirs: str) -> TomlMergeResult:
    """Merge `ours` and `theirs` against `base` key by key; never writes markers."""
    plain: dict[str, dict[str, Any]] = {}
    for side, text in (("last written", base), ("repository's", ours), ("generator's", theirs)):
        loaded, problem = _load(text, side)
        if loaded is None:
            return TomlMergeResult(None, problem=problem)
        plain[side] = loaded
    b, o, t = plain["last written"], plain["repository's"], plain["generator's"]
    merged, conflicts = merge_values(b, o, t)
    if conflicts:
        return TomlMergeResult(None, conflicts)
    if same(merged, o):
        return TomlMergeResult(ours)
    return _written(ours, theirs, o, t, merged)


def _written(
    ours: str, theirs: str, o: dict[str, Any], t: dict[str, Any], merged: dict[str, Any]
) -> TomlMergeResult:
    failed = "the merged keys could not be written back while keeping the file's layout"
    try:
        doc = tomlkit.parse(ours)
        _write_table(doc, o, merged, tomlkit.parse(theirs), t)
        text = tomlkit.dumps(doc)
        again = tomllib.loads(text)
    except (TOMLKitError, tomllib.TOMLDecodeError, KeyError, IndexError, TypeError, ValueError):
        return TomlMergeResult(None, problem=failed)
    if not same(again, merged):
        return TomlMergeResult(None, problem=failed)
    return TomlMergeResult(text)
