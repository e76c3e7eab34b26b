"""What a report says about MCP servers and Claude Code subagents: declared in the
manifest versus present in the repository (filled by `mcp_review`, carried by
`GapReport.tooling`, shown by the project page and the API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
