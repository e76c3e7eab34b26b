"""Style-preserving edits of TOML files that teams also edit (docs/BMAD.md).

bmadweb owns a few keys in `_bmad/custom/config.toml` (`[agents.<id>]`) and in
`_bmad/custom/<skill>.toml` (`[agent]` / `[workflow]`); everything else in those files
- the team's own keys, comments and order - is kept by editing through tomlkit. Each
edit takes the current text (or None) and the text bmadweb wrote last time (or None):
keys bmadweb wrote earlier and no longer declares are removed, unless the team
changed them since.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Table
from tomlkit.toml_document import TOMLDocument

TomlValue = str | Sequence[str] | Sequence[Mapping[str, str]]


class TomlEditError(ValueError):
    """The current file is not valid TOML, so it cannot be edited in place safely."""


def _parse(text: str | None, header: str) -> TOMLDocument:
    if text is None:
        return tomlkit.parse(header)
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise TomlEditError(f"not valid TOML, cannot edit it in place: {exc}") from None


def _plain(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        return tomlkit.parse(text).unwrap()
    except TOMLKitError:
        return {}


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
    doc = _parse(current, header)
    table = _table(doc, block)
    before = _plain(previous).get(block, {})
    _set_keys(table, values, before if isinstance(before, dict) else {}, owned)
    return tomlkit.dumps(doc)


def edit_agents(
    current: str | None,
    previous: str | None,
    *,
    agents: Mapping[str, Mapping[str, str]],
    header: str,
) -> str:
    """Register `agents` under `[agents.<id>]`, dropping ids bmadweb registered before."""
    doc = _parse(current, header)
    table = _table(doc, "agents", super_table=True)
    before = _plain(previous).get("agents", {})
    before = before if isinstance(before, dict) else {}
    for agent_id, keys in agents.items():
        entry = _table(table, agent_id)
        old = before.get(agent_id, {})
        _set_keys(entry, keys, old if isinstance(old, dict) else {}, tuple(keys))
    for agent_id, old in before.items():
        if agent_id not in agents and agent_id in table and table[agent_id].unwrap() == old:
            del table[agent_id]
    return tomlkit.dumps(doc)
