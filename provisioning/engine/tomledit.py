"""Style-preserving edits of TOML files that teams also edit (docs/bmad.md).

bmadweb owns a few keys in `_bmad/custom/config.toml` (`[agents.<id>]`) and in
`_bmad/custom/<skill>.toml` (`[agent]` / `[workflow]`); everything else in those files
- the team's own keys, comments and order - is kept by editing through tomlkit. Each
edit takes the current text (or None) and the text bmadweb wrote last time (or None):
keys bmadweb wrote earlier and no longer declares are removed, unless the team
changed them since.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Table
from tomlkit.toml_document import TOMLDocument

from provisioning.engine.tomlmerge import same

TomlValue = str | Sequence[str] | Sequence[Mapping[str, str]]


def toml_string(value: str) -> str:
    """A TOML basic string: JSON escapes are valid TOML, DEL must be escaped too.

    (`json.dumps(value, ensure_ascii=False)` for a string, without building an encoder
    for each of the thousands of values a large manifest gives.)"""
    return encode_basestring(value).replace("\x7f", "\\u007f")


def _fresh_value(value: TomlValue) -> str:
    if isinstance(value, str):
        return toml_string(value)
    items = [toml_string(v) for v in value if isinstance(v, str)]
    if len(items) < 2:
        return f"[{''.join(items)}]"
    return "[\n" + "".join(f"    {item},\n" for item in items) + "]"


def _fresh_table(name: str, values: Mapping[str, TomlValue]) -> str:
    """TOML text of a new table; tables in arrays (menus) follow as [[name.key]]."""
    lines = [f"[{name}]"]
    nested: list[str] = []
    for key, value in values.items():
        if not isinstance(value, str) and value and isinstance(next(iter(value)), Mapping):
            for entry in value:
                assert isinstance(entry, Mapping)
                nested += ["", f"[[{name}.{key}]]"]
                nested += [f"{k} = {toml_string(v)}" for k, v in entry.items()]
        else:
            lines.append(f"{key} = {_fresh_value(value)}")
    return "\n".join(lines + nested) + "\n"


class TomlEditError(ValueError):
    """The current file is not valid TOML, so it cannot be edited in place safely."""


def _parse(text: str | None, header: str) -> TOMLDocument:
    if text is None:
        return tomlkit.parse(header)
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise TomlEditError(f"not valid TOML, cannot edit it in place: {exc}") from None


@functools.lru_cache(maxsize=16)
def _loaded(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """(plain values, None) or (None, why it is not TOML): parsed once per text, for the
    state, the structure check and the render of the same file."""
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        return None, str(exc)


def _plain(text: str | None) -> dict[str, Any]:
    """Plain values of a TOML text ({} when absent or invalid); tomllib is much faster."""
    if text is None:
        return {}
    return _loaded(text)[0] or {}


def same_values(a: str | None, b: str | None) -> bool:
    """Whether two TOML texts hold the same values (comments and layout aside); texts
    that are not valid TOML compare as text."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    (values_a, problem_a), (values_b, problem_b) = _loaded(a), _loaded(b)  # parsed once
    return problem_a is None and problem_b is None and same(values_a, values_b)


def _written_by_us(previous: str | None, header: str) -> str | None:
    """`previous` when it is bmadweb's own output (it starts with bmadweb's header), else
    None. A lock written before bmadweb recorded its own keys alone (docs/decisions.md#d41)
    holds the whole file, team keys included; those must not read as keys bmadweb wrote."""
    return previous if previous is not None and previous.startswith(header) else None


def _sub(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _satisfied(
    table: Mapping[str, Any],
    wanted: Mapping[str, TomlValue],
    previous: Mapping[str, Any],
    owned: Sequence[str],
) -> bool:
    """True when `_set_keys` would change nothing in `table` (plain values)."""
    if any(not same(table.get(key), _plain_value(value)) for key, value in wanted.items()):
        return False
    stale = (k for k in owned if k in previous and k not in wanted and k in table)
    return all(not same(table[key], previous[key]) for key in stale)


def _item(value: TomlValue) -> Any:
    if isinstance(value, str):
        return value
    items = list(value)
    if items and isinstance(items[0], Mapping):
        aot = AoT([])
        for entry in items:
            table = tomlkit.table()
            assert isinstance(entry, Mapping)
            for key, item in entry.items():
                table.add(key, item)
            aot.append(table)
        return aot
    array: Array = tomlkit.array()
    array.extend(items)
    if len(items) > 1:
        array.multiline(True)
    return array


def _table(doc: TOMLDocument | Table, key: str, *, super_table: bool = False) -> Table:
    existing = doc.get(key)
    if isinstance(existing, Table):
        return existing
    if existing is not None:
        raise TomlEditError(f"{key!r} is not a table, cannot edit it in place")
    table = tomlkit.table(is_super_table=super_table)
    doc.add(key, table)
    return table


def _set_keys(
    table: Table, wanted: Mapping[str, TomlValue], previous: Mapping[str, Any], owned: Sequence[str]
) -> None:
    for key, value in wanted.items():
        if key not in table or table[key].unwrap() != _plain_value(value):
            table[key] = _item(value)
    for key in owned:
        stale = key in previous and key not in wanted
        if stale and key in table and table[key].unwrap() == previous[key]:
            del table[key]


def _plain_value(value: TomlValue) -> Any:
    if isinstance(value, str):
        return value
    return [dict(v) if isinstance(v, Mapping) else v for v in value]


def edit_block(
    current: str | None,
    previous: str | None,
    *,
    block: str,
    values: Mapping[str, TomlValue],
    owned: Sequence[str],
    header: str,
) -> str:
    """Set `values` in `[block]` of a team TOML file, keeping everything else."""
    if current is None:  # a new file: plain text, fast and the same bytes every time
        return f"{header}\n{_fresh_table(block, values)}"
    now = _plain(current)
    before = _sub(_plain(_written_by_us(previous, header)), block)
    if block in now and _satisfied(_sub(now, block), values, before, owned):
        return current or ""  # nothing to change: skip the slow style-preserving parse
    if block not in now:
        added = {block: {key: _plain_value(value) for key, value in values.items()}}
        appended = _appended(current, [_fresh_table(block, values)], added)
        if appended is not None:
            return appended
    return _tomlkit_block(current, header, block, values, before, owned)


def _tomlkit_block(
    current: str,
    header: str,
    block: str,
    values: Mapping[str, TomlValue],
    before: Mapping[str, Any],
    owned: Sequence[str],
) -> str:
    doc = _parse(current, header)
    table = _table(doc, block)
    _set_keys(table, values, before, owned)
    return tomlkit.dumps(doc)


def edit_agents(
    current: str | None,
    previous: str | None,
    *,
    agents: Mapping[str, Mapping[str, str]],
    header: str,
) -> str:
    """Register `agents` under `[agents.<id>]`, dropping ids bmadweb registered before."""
    tables = [_fresh_table(f"agents.{agent_id}", keys) for agent_id, keys in agents.items()]
    if current is None:  # a new file: plain text, fast and the same bytes every time
        return header + "".join(f"\n{table}" for table in tables)
    now = _sub(_plain(current), "agents")
    before = _sub(_plain(_written_by_us(previous, header)), "agents")
    if _agents_satisfied(now, before, agents):
        return current  # nothing to change: skip the slow style-preserving parse
    if "agents" not in _plain(current):
        added = {"agents": {agent_id: dict(keys) for agent_id, keys in agents.items()}}
        appended = _appended(current, tables, added)
        if appended is not None:
            return appended
    return _tomlkit_agents(current, header, agents, before)


def _tomlkit_agents(
    current: str,
    header: str,
    agents: Mapping[str, Mapping[str, str]],
    before: Mapping[str, Any],
) -> str:
    doc = _parse(current, header)
    table = _table(doc, "agents", super_table=True)
    for agent_id, keys in agents.items():
        entry = _table(table, agent_id)
        _set_keys(entry, keys, _sub(before, agent_id), tuple(keys))
    for agent_id, old in before.items():
        stale = _registered_by_us(old) and agent_id not in agents and agent_id in table
        if stale and table[agent_id].unwrap() == old:
            del table[agent_id]
    return tomlkit.dumps(doc)


def _appended(current: str, tables: Sequence[str], added: Mapping[str, Any]) -> str | None:
    """`current` with new tables after its last line, for a file that has none of their
    keys yet, without tomlkit's style-preserving parse (about 60 ms of CPU for the 110
    agents of a first provisioning, docs/performance.md#after). The layout is tomlkit's
    own for this edit: the team's text byte for byte, a line end added if the file lacks
    one, one blank line before each table unless the file is empty or already ends with
    a blank line (tests compare the bytes with the tomlkit edit).

    Taken only when the result provably holds the file's values plus `added` and nothing
    else (parsed back with tomllib); otherwise None, and the caller edits through
    tomlkit. CRLF files also go through tomlkit, which keeps their line endings."""
    values, problem = _loaded(current)
    if values is None or problem is not None or "\r" in current:
        return None
    if not current:
        result = "\n".join(tables)
    elif not current.endswith("\n"):
        result = f"{current}\n" + "\n".join(tables)
    elif not current[:-1].rpartition("\n")[2].strip(" \t"):  # it ends with a blank line
        result = current + "\n".join(tables)
    else:
        result = current + "".join(f"\n{table}" for table in tables)
    try:
        parsed = tomllib.loads(result)
    except tomllib.TOMLDecodeError:
        return None
    return result if same(parsed, {**values, **added}) else None


def _registered_by_us(entry: Any) -> bool:
    """Whether an `[agents.<id>]` entry of the last written text is one bmadweb registered
    (`module = "bmadweb"`, as the generator writes it): that text also holds the team's
    own entries, which are never bmadweb's to remove."""
    return isinstance(entry, dict) and entry.get("module") == "bmadweb"


def _agents_satisfied(
    now: Mapping[str, Any], before: Mapping[str, Any], agents: Mapping[str, Mapping[str, str]]
) -> bool:
    for agent_id, keys in agents.items():
        if agent_id not in now or not _satisfied(_sub(now, agent_id), keys, {}, ()):
            return False
    stale = (i for i in before if _registered_by_us(before[i]) and i not in agents and i in now)
    return all(now[agent_id] != before[agent_id] for agent_id in stale)


def _structure_problem(current: str | None, tables: Sequence[tuple[str, ...]]) -> str | None:
    """Why `current` cannot be edited in place (invalid TOML, a table that is not one)."""
    if current is None:
        return None
    data: Any
    data, error = _loaded(current)
    if error is not None:
        return f"not valid TOML ({error})"
    for path in tables:
        node = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
            if node is not None and not isinstance(node, dict):
                return f"{'.'.join(path)!r} is not a table"
    return None


@dataclass(frozen=True, slots=True, eq=False)
class BlockEdit:
    """In-place edit of `[block]` in `_bmad/custom/<skill>.toml`."""

    block: str
    values: Mapping[str, TomlValue]
    owned: tuple[str, ...]
    header: str

    def render(self, current: str | None, previous: str | None) -> str:
        return edit_block(
            current,
            previous,
            block=self.block,
            values=self.values,
            owned=self.owned,
            header=self.header,
        )

    def changes(self, current: str | None, previous: str | None) -> bool:
        """Whether `render(current, previous)` differs from current (fast, no tomlkit)."""
        if current is None:
            return True
        now = _plain(current)
        before = _sub(_plain(_written_by_us(previous, self.header)), self.block)
        return not (
            self.block in now and _satisfied(_sub(now, self.block), self.values, before, self.owned)
        )

    def problem(self, current: str | None) -> str | None:
        return _structure_problem(current, [(self.block,)])

    def base_of(self, text: str) -> str:
        # bmadweb's own keys alone (its output on an empty file), never the team's keys
        # around them, which would read as keys bmadweb wrote and later be removed as
        # stale (docs/decisions.md#d42).
        return self.render(None, None)

    def untouched(self, current: str, previous: str) -> bool:
        # comments aside, only bmadweb's keys are there
        return same_values(current, previous)


@dataclass(frozen=True, slots=True, eq=False)
class AgentsEdit:
    """In-place registration of custom agents in `_bmad/custom/config.toml`."""

    agents: Mapping[str, Mapping[str, str]]
    header: str

    def render(self, current: str | None, previous: str | None) -> str:
        return edit_agents(current, previous, agents=self.agents, header=self.header)

    def changes(self, current: str | None, previous: str | None) -> bool:
        if current is None:
            return True
        now = _sub(_plain(current), "agents")
        before = _sub(_plain(_written_by_us(previous, self.header)), "agents")
        return not _agents_satisfied(now, before, self.agents)

    def problem(self, current: str | None) -> str | None:
        return _structure_problem(current, [("agents",), *(("agents", i) for i in self.agents)])

    def base_of(self, text: str) -> str:
        # bmadweb's own keys alone (its output on an empty file), never the team's keys
        # around them, which would read as keys bmadweb wrote and later be removed as
        # stale (docs/decisions.md#d42).
        return self.render(None, None)

    def untouched(self, current: str, previous: str) -> bool:
        # comments aside, only bmadweb's keys are there
        return same_values(current, previous)


TomlEdit = BlockEdit | AgentsEdit
