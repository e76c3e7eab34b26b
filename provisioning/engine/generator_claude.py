"""Files for Claude Code subagents and MCP servers (docs/bmad.md#mcp-files).

`claude_outputs(manifest, install)` gives the generator the project's `.mcp.json`, Cursor's
`.cursor/mcp.json` when Cursor is a declared tool, and one `.claude/agents/<id>.md` per
subagent. They are not BMAD skills: nothing goes into `_bmad/custom/config.toml`. The
two MCP files are shared with the team, so they are edited in place (`jsonedit`) and
merged key by key (`jsonmerge`); a subagent file is bmadweb's own text, merged line by
line like a skill. They are written where bmadweb provisions (BMAD 6.0-6.2 and 6.4+,
whose `_bmad/custom/` holds the lock file), and only noted elsewhere.

`released_outputs` keeps an MCP file bmadweb wrote servers into, once the manifest
declares none there: its servers are removed in place and the team's stay, instead of
the whole file being deleted as an orphan.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from provisioning.engine import paths
from provisioning.engine.jsonedit import JsonEntriesEdit
from provisioning.engine.manifest import Manifest
from provisioning.engine.templates import claude as tpl
from provisioning.engine.types import BmadInstall, Generation

MCP_KIND = "mcp-config"
SUBAGENT_KIND = "subagent"
MCP_ROOT = "mcpServers"
MCP_PATHS = (paths.MCP_JSON_PATH, paths.CURSOR_MCP_PATH)
PROVISIONED = (Generation.V6_0, Generation.V6_1, Generation.V6_4)

# (path, content for a new file, kind, in-place edit or None)
Output = tuple[str, str, str, JsonEntriesEdit | None]


def _mcp_file(path: str, entries: dict[str, dict[str, Any]]) -> Output:
    edit = JsonEntriesEdit(MCP_ROOT, entries)
    return path, edit.fresh(), MCP_KIND, edit


def claude_outputs(manifest: Manifest, install: BmadInstall) -> tuple[list[Output], list[str]]:
    """The subagent and MCP files `manifest` implies on `install`, and notes."""
    servers, agents = manifest.mcp_servers, manifest.claude_agents
    if not servers and not agents:
        return [], []
    if install.generation not in PROVISIONED:
        what = "MCP servers and Claude Code subagents"
        return [], [
            f"{what} are not written here: bmadweb writes only to BMAD 6.0-6.2 and 6.4+ "
            "installs, whose _bmad/custom/ keeps its lock file."
        ]
    outputs: list[Output] = []
    notes: list[str] = []
    if servers:
        outputs.append(
            _mcp_file(paths.MCP_JSON_PATH, {n: tpl.claude_entry(s) for n, s in servers.items()})
        )
    if servers and "cursor" in manifest.project.tools:
        entries = {n: tpl.cursor_entry(s) for n, s in servers.items()}
        outputs.append(_mcp_file(paths.CURSOR_MCP_PATH, entries))
        defaults = sorted(n for n, s in servers.items() if tpl.has_default(s))
        if defaults:
            notes.append(
                "Cursor has no ${VAR:-default}: .cursor/mcp.json refers to the variable "
                f"alone for {', '.join(defaults)}."
            )
    for agent in agents:
        path = paths.claude_agent_file(agent.id)
        outputs.append((path, tpl.agent_md(agent), SUBAGENT_KIND, None))
    return outputs, notes


def released_outputs(locked: Collection[str], targets: Collection[str]) -> list[Output]:
    """MCP files in the lock that the manifest no longer implies: an edit that removes
    bmadweb's servers and keeps the file (callers add it only when the file exists)."""
    return [_mcp_file(path, {}) for path in MCP_PATHS if path in locked and path not in targets]
