"""BMAD agents and skills of a project: declared in its manifest and/or seen installed
by its latest report, each with the state of its files (the API's /skills and the
project's Skills page read the same rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioning.engine.manifest import Manifest
from provisioning.engine.mcp_inventory import ToolingRow, tooling_rows

# Worst first: the state a skill shows when its files disagree.
STATE_ORDER = (
    "conflict",
    "unmanaged",
    "missing",
    "outdated",
    "orphaned",
    "modified",
    "up-to-date",
)
NOT_ANALYSED = "not-analysed"


@dataclass
class SkillRow:
    id: str
    kind: str
    declared: bool
    installed: bool = False
    state: str = NOT_ANALYSED
    paths: list[str] | None = None


def _skill_id(item: dict[str, Any]) -> tuple[str, str] | None:
    """(id, family) of a report item, family "agent" or "customization"; None for files
    that belong to no single skill (agent registrations)."""
    parts = str(item.get("path", "")).split("/")
    kind = item.get("kind")
    if kind in ("skill", "skill-config") and len(parts) >= 2:
        return parts[-2], "agent"
    if kind in ("customization", "integration"):
        name = parts[-1]
        for suffix in (".customize.yaml", ".toml", ".yaml"):
            if name.endswith(suffix):
                return name[: -len(suffix)], "customization"
    return None


def _family_key(row: SkillRow) -> tuple[str, str]:
    return row.id, "customization" if row.kind == "customization" else "agent"


def _worst(states: list[str]) -> str:
    ranked = [s for s in STATE_ORDER if s in states]
    return ranked[0] if ranked else (states[0] if states else NOT_ANALYSED)


def _declared(manifest: Manifest | None) -> list[SkillRow]:
    if manifest is None:
        return []
    rows = []
    for leader in manifest.leaders:
        rows.append(SkillRow(leader.id, "leader", True))
        rows.extend(SkillRow(s.id, "specialist", True) for s in leader.specialists)
    rows.extend(SkillRow(skill_id, "customization", True) for skill_id in manifest.customizations)
    for integration in manifest.integrations:
        if integration.workflow not in manifest.customizations:
            rows.append(SkillRow(integration.workflow, "customization", True))
    return rows


def skills_overview(
    manifest: Manifest | None, report: dict[str, Any] | None
) -> list[SkillRow | ToolingRow]:
    """Every declared agent/customization with the state of its files, then every skill
    the report saw that the manifest no longer declares (kind "installed"), then the
    Claude Code subagents and MCP servers, declared and present."""
    rows = {_family_key(r): r for r in _declared(manifest)}
    files: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in (report or {}).get("items") or []:
        key = _skill_id(item) if isinstance(item, dict) else None
        if key is not None:
            files.setdefault(key, []).append(item)
    for key, items in files.items():
        row = rows.setdefault(key, SkillRow(key[0], "installed", False))
        states = [str(i.get("state", "")) for i in items]
        row.paths = sorted(str(i.get("path", "")) for i in items)
        row.state = _worst(states)
        row.installed = any(s != "missing" for s in states)
    for row in rows.values():
        if report is not None and row.paths is None:
            row.state = "missing"  # declared, but the last report saw none of its files
        row.paths = row.paths or []
    return [*rows.values(), *tooling_rows(manifest, report)]
