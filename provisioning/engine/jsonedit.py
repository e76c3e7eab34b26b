"""In-place edits of JSON files that teams also edit (docs/bmad.md#mcp-files).

bmadweb owns some entries of one object of a JSON file - the servers its manifest
declares under `mcpServers` of `.mcp.json` or `.cursor/mcp.json` - and, in each entry,
the keys it writes. Everything else (the team's own servers, the team's extra keys in
an entry, other top-level keys) is kept, in the team's order and indentation.

The lock file's base of such a file is bmadweb's part only (`base_of`): the entries and
keys it owned when it wrote. That is what tells a server bmadweb wrote before and no
longer declares (removed, unless the team changed it since) from one the team added
(kept), and whether the team touched bmadweb's part at all (`untouched`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.engine.jsonmerge import JsonTextError, dumps_like, load_json
from provisioning.engine.tomlmerge import same

Entry = Mapping[str, Any]


class JsonEditError(ValueError):
    """The current file is not a JSON object bmadweb can edit in place."""


@functools.lru_cache(maxsize=16)
def _parsed(text: str) -> tuple[Any, str | None]:
    try:
        return load_json(text), None
    except JsonTextError as exc:
        return None, str(exc)


def _object(text: str | None) -> dict[str, Any]:
    """The plain value of `text` ({} when absent or not an object: a base we wrote)."""
    if text is None:
        return {}
    value, _ = _parsed(text)
    return value if isinstance(value, dict) else {}


def _entries(doc: Mapping[str, Any], root: str) -> dict[str, Any]:
    value = doc.get(root)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True, eq=False)
class JsonEntriesEdit:
    """Entries `<root>.<name>` of a team JSON file (e.g. `mcpServers.github`)."""

    root: str
    entries: Mapping[str, Entry]

    def fresh(self) -> str:
        """The text of a new file: bmadweb's entries only."""
        return dumps_like({self.root: {n: dict(e) for n, e in self.entries.items()}}, None)

    def problem(self, current: str | None) -> str | None:
        """Why `current` cannot be edited in place, or None."""
        if current is None:
            return None
        value, problem = _parsed(current)
        if problem is not None:
            return problem
        if not isinstance(value, dict):
            return "the document is not a JSON object"
        servers = value.get(self.root, {})
        if not isinstance(servers, dict):
            return f"{self.root!r} is not an object"
        for name in self.entries:
            if name in servers and not isinstance(servers[name], dict):
                return f"{self.root}.{name} is not an object"
        return None

    def _owned(self, doc: Mapping[str, Any], shape: Mapping[str, Any]) -> dict[str, Any]:
        """`doc`'s values at the entries and keys of `shape` (`{name: {key: …}}`)."""
        found = _entries(doc, self.root)
        part: dict[str, Any] = {}
        for name, keys in shape.items():
            entry = found.get(name)
            if isinstance(entry, dict) and isinstance(keys, Mapping):
                part[name] = {k: entry[k] for k in keys if k in entry}
        return part

    def base_of(self, text: str) -> str:
        """bmadweb's part of `text`, as the lock file keeps it."""
        return dumps_like({self.root: self._owned(_object(text), self.entries)}, None)

    def untouched(self, current: str, previous: str) -> bool:
        """Whether bmadweb's part of `current` is still what it wrote (`previous`)."""
        before = _entries(_object(previous), self.root)
        return same(self._owned(_object(current), before), before)

    def _stale(self, found: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
        """Entries bmadweb wrote before, no longer declares, and nobody changed since."""
        return [
            name
            for name, old in before.items()
            if name not in self.entries and name in found and same(found[name], old)
        ]

    def changes(self, current: str | None, previous: str | None) -> bool:
        """Whether `render(current, previous)` differs from `current` (no rewriting)."""
        if current is None:
            return True
        found = _entries(_object(current), self.root)
        before = _entries(_object(previous), self.root)
        for name, wanted in self.entries.items():
            entry = found.get(name)
            if not isinstance(entry, dict) or _entry_changes(entry, wanted, before.get(name)):
                return True
        return bool(self._stale(found, before))

    def render(self, current: str | None, previous: str | None) -> str:
        """`current` with bmadweb's entries set and its stale ones removed."""
        if current is None:
            return self.fresh()
        problem = self.problem(current)
        if problem is not None:
            raise JsonEditError(f"cannot edit it in place: {problem}")
        if not self.changes(current, previous):
            return current
        doc = load_json(current)
        found = doc.setdefault(self.root, {})
        before = _entries(_object(previous), self.root)
        for name in self._stale(found, before):
            del found[name]
        for name, wanted in self.entries.items():
            entry = found.setdefault(name, {})
            old = before.get(name)
            old = old if isinstance(old, dict) else {}
            for key in [k for k in old if k not in wanted]:
                if key in entry and same(entry[key], old[key]):
                    del entry[key]
            for key, value in wanted.items():
                entry[key] = _plain(value)
        return dumps_like(doc, current)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _entry_changes(entry: Mapping[str, Any], wanted: Entry, old: Any) -> bool:
    if any(k not in entry or not same(entry[k], _plain(v)) for k, v in wanted.items()):
        return True
    stale = (k for k in (old if isinstance(old, dict) else {}) if k not in wanted)
    return any(k in entry and same(entry[k], old[k]) for k in stale)
