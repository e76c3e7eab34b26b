"""Cross-field rules of a manifest that the schema cannot express (unique ids, agents
versus workflows), and the path notation of error messages. Plain dicts in, no schema import."""

from __future__ import annotations

from typing import Any

from provisioning.engine.manifest_mcp import mcp_cross_check_errors
from provisioning.engine.yamlsafe import PathKey

_AGENT_KEYS = ("principles", "menu", "communication_style", "role", "identity", "icon")


def format_path(path: PathKey) -> str:
    """("leaders", 0, "id") -> "leaders[0].id"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def cross_check_errors(value: Any) -> list[tuple[PathKey, str]]:
    """Whole-manifest rules on a loaded (possibly invalid) value."""
    if not isinstance(value, dict):
        return []
    problems = _duplicate_ids(value)
    project = value.get("project")
    if isinstance(project, dict):
        for key in ("modules", "tools"):
            problems += _duplicates_in(project.get(key), ("project", key))
    problems += _agent_workflow_clashes(value)
    problems += mcp_cross_check_errors(value)
    return problems


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _duplicate_ids(value: dict[str, Any]) -> list[tuple[PathKey, str]]:
    seen: dict[str, PathKey] = {}
    problems: list[tuple[PathKey, str]] = []

    def visit(item: Any, path: PathKey) -> None:
        ident = item.get("id") if isinstance(item, dict) else None
        if not isinstance(ident, str):
            return
        key = ident.casefold()
        if key in seen:
            first = format_path(seen[key])
            problems.append(((*path, "id"), f"the id {ident!r} is already used at {first}"))
        else:
            seen[key] = (*path, "id")

    for i, leader in enumerate(_as_list(value.get("leaders"))):
        visit(leader, ("leaders", i))
        specialists = leader.get("specialists") if isinstance(leader, dict) else None
        for j, specialist in enumerate(_as_list(specialists)):
            visit(specialist, ("leaders", i, "specialists", j))
    return problems


def _duplicates_in(items: Any, path: PathKey) -> list[tuple[PathKey, str]]:
    seen: set[str] = set()
    problems: list[tuple[PathKey, str]] = []
    for i, item in enumerate(_as_list(items)):
        if isinstance(item, str):
            if item in seen:
                problems.append(((*path, i), f"{item!r} is listed more than once"))
            seen.add(item)
    return problems


def _agent_workflow_clashes(value: dict[str, Any]) -> list[tuple[PathKey, str]]:
    customizations = value.get("customizations")
    if not isinstance(customizations, dict):
        return []
    agents = {
        key
        for key, body in customizations.items()
        if isinstance(body, dict) and any(body.get(k) not in (None, [], ()) for k in _AGENT_KEYS)
    }
    problems: list[tuple[PathKey, str]] = []
    for i, integration in enumerate(_as_list(value.get("integrations"))):
        workflow = integration.get("workflow") if isinstance(integration, dict) else None
        if workflow in agents:
            problems.append(
                (
                    ("integrations", i, "workflow"),
                    f"{workflow!r} is customized as an agent under customizations, "
                    "so it cannot also take workflow hooks",
                )
            )
    return problems
