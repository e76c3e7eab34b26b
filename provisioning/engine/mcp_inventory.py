"""What a report says about MCP servers and Claude Code subagents: declared in the
manifest versus present in the repository (filled by `mcp_review`, carried by
`GapReport.tooling`, shown by the project page and the API), and the rows the API's
skills list shows for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioning.engine.manifest import Manifest


@dataclass(frozen=True, slots=True)
class ServerRow:
    name: str
    declared: bool
    allowed: bool
    state: str  # bmadweb's entry: up-to-date, modified, missing; "unmanaged" if not declared
    paths: tuple[str, ...]  # the MCP files that hold it


@dataclass(frozen=True, slots=True)
class SubagentRow:
    id: str
    declared: bool
    present: bool
    state: str  # the state of its file; "unmanaged" for a subagent bmadweb does not manage
    path: str


@dataclass(frozen=True, slots=True)
class ToolingInventory:
    servers: tuple[ServerRow, ...] = ()
    subagents: tuple[SubagentRow, ...] = ()
    closed: bool = False
    configs: tuple[str, ...] = ()  # the MCP files found


def tooling_to_dict(inventory: ToolingInventory) -> dict[str, Any]:
    """The JSON shape of an inventory in reports (`report["tooling"]`)."""
    return {
        "mcp_servers_closed": inventory.closed,
        "mcp_configs": list(inventory.configs),
        "mcp_servers": [
            {
                "name": row.name,
                "declared": row.declared,
                "allowed": row.allowed,
                "state": row.state,
                "paths": list(row.paths),
            }
            for row in inventory.servers
        ],
        "subagents": [
            {
                "id": row.id,
                "declared": row.declared,
                "present": row.present,
                "state": row.state,
                "path": row.path,
            }
            for row in inventory.subagents
        ],
    }


@dataclass
class ToolingRow:
    """One subagent or MCP server on the skills list (API `/skills`): declared in the
    manifest and/or present in the latest report. Field names follow the skill rows."""

    id: str
    kind: str  # "subagent" or "mcp-server"
    declared: bool
    installed: bool = False
    state: str = "not-analysed"
    paths: list[str] = field(default_factory=list)
    allowed: bool | None = None  # MCP servers: false only for one a closed list refuses


def tooling_rows(manifest: Manifest | None, report: dict[str, Any] | None) -> list[ToolingRow]:
    """Subagents and MCP servers of a project: the manifest's, each with what the latest
    report saw of it, then the ones the report saw that the manifest does not declare."""
    tooling = (report or {}).get("tooling")
    seen = tooling if isinstance(tooling, dict) else {}
    closed = manifest.mcp_servers_closed if manifest else bool(seen.get("mcp_servers_closed"))
    rows: dict[tuple[str, str], ToolingRow] = {}
    for agent in manifest.claude_agents if manifest else ():
        rows["subagent", agent.id] = ToolingRow(agent.id, "subagent", True)
    for name in manifest.mcp_servers if manifest else ():
        rows["mcp-server", name] = ToolingRow(name, "mcp-server", True, allowed=True)
    for found in _dicts(seen.get("subagents")):
        row = rows.setdefault(("subagent", str(found.get("id"))), _undeclared(found, "subagent"))
        row.installed = bool(found.get("present"))
        row.state = str(found.get("state", row.state))
        row.paths = [str(found.get("path"))] if row.installed else []
    for found in _dicts(seen.get("mcp_servers")):
        key = ("mcp-server", str(found.get("name")))
        row = rows.setdefault(key, _undeclared(found, "mcp-server", allowed=not closed))
        row.paths = [str(p) for p in found.get("paths") or []]
        row.installed = bool(row.paths)
        row.state = str(found.get("state", row.state))
    for row in rows.values():
        if report is not None and tooling is not None and row.state == "not-analysed":
            row.state = "missing"  # declared, and the report saw nothing of it
    return list(rows.values())


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _undeclared(found: dict[str, Any], kind: str, *, allowed: bool | None = None) -> ToolingRow:
    ident = str(found.get("id") or found.get("name"))
    return ToolingRow(ident, kind, False, allowed=allowed)
