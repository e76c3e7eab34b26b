"""Text of Claude Code subagents and MCP server entries (docs/bmad.md#mcp-files).

- `.mcp.json` (Claude Code's project scope): `{"mcpServers": {name: entry}}`; a stdio
  entry is `type: "stdio"`, `command`, `args`, `env` (as `claude mcp add --scope project`
  writes it), a remote one `type: "http" | "sse"`, `url`, `headers`. Claude Code expands
  `${VAR}` and `${VAR:-default}` itself, so values are written as the manifest has them.
- `.cursor/mcp.json`: the same `mcpServers` object, without `type` (Cursor tells a remote
  server by its `url`), and with references in Cursor's own syntax, `${env:VAR}`; Cursor
  has no defaults, so `${VAR:-default}` becomes `${env:VAR}` and a note says so.
- `.claude/agents/<id>.md`: YAML front matter `name`, `description`, `tools` (comma
  separated, omitted to inherit every tool), `model`, and `mcpServers` (the names of
  the project's servers the subagent may use); the body is the system prompt. The
  description is written as a JSON string, which YAML reads as the same text, so no
  manifest value can break the front matter. When a subagent lists its tools, each MCP
  server it may use is added as `mcp__<server>` (all of that server's tools).
"""

from __future__ import annotations

import json
import re
from typing import Any

from provisioning.engine.manifest import ClaudeAgent, McpServer
from provisioning.engine.secretscan import REFERENCE

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_PLAIN_LIST = re.compile(r"[A-Za-z][A-Za-z0-9_*]*(?:, [A-Za-z][A-Za-z0-9_*]*)*")
# Characters YAML does not accept as they are (DEL, C1 controls, non-characters) or reads as
# line breaks (NEL, LS, PS) or a byte-order mark: JSON leaves them unescaped.
_NOT_YAML = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def yaml_quoted(value: str) -> str:
    """`value` as a YAML double-quoted scalar: a JSON string, with the characters YAML
    refuses or reads differently (`_NOT_YAML`) escaped too."""
    text = json.dumps(value, ensure_ascii=False)
    return _NOT_YAML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def yaml_text(value: str, *, plain: re.Pattern[str] = _PLAIN) -> str:
    """`value` as a YAML scalar: plain when YAML reads it back as this very text, else
    double-quoted."""
    if plain.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return yaml_quoted(value)


def claude_entry(server: McpServer) -> dict[str, Any]:
    """The server's entry in Claude Code's `.mcp.json`."""
    if server.remote:
        entry: dict[str, Any] = {"type": server.type, "url": server.url}
        if server.headers:
            entry["headers"] = dict(server.headers)
        return entry
    entry = {"type": "stdio", "command": server.command}
    if server.args:
        entry["args"] = list(server.args)
    if server.env:
        entry["env"] = dict(server.env)
    return entry


def cursor_reference(value: str) -> str:
    """`${VAR}` and `${VAR:-default}` in Cursor's syntax, `${env:VAR}`."""
    return REFERENCE.sub(lambda m: "${env:" + m.group(1) + "}", value)


def has_default(server: McpServer) -> bool:
    values = [server.command, server.url, *server.args, *server.env.values()]
    values += server.headers.values()
    return any(v is not None and re.search(r"\$\{\w+:-", v) for v in values)


def cursor_entry(server: McpServer) -> dict[str, Any]:
    """The server's entry in Cursor's `.cursor/mcp.json`."""
    entry = claude_entry(server)
    del entry["type"]
    return _map_strings(entry)


def _map_strings(value: Any) -> Any:
    if isinstance(value, str):
        return cursor_reference(value)
    if isinstance(value, dict):
        return {k: _map_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v) for v in value]
    return value


def agent_tools(agent: ClaudeAgent) -> list[str]:
    """The subagent's `tools`: its own, then `mcp__<server>` for each server it may use
    (none at all when it lists no tools: it inherits every tool)."""
    if not agent.tools:
        return []
    extra = [f"mcp__{name}" for name in agent.mcp_servers]
    return list(dict.fromkeys([*agent.tools, *extra]))


def agent_md(agent: ClaudeAgent) -> str:
    """`.claude/agents/<id>.md`: front matter, a blank line, the system prompt."""
    description = yaml_quoted(agent.description)
    lines = ["---", f"name: {yaml_text(agent.id)}", f"description: {description}"]
    tools = agent_tools(agent)
    if tools:
        lines.append(f"tools: {yaml_text(', '.join(tools), plain=_PLAIN_LIST)}")
    lines.append(f"model: {yaml_text(agent.model, plain=re.compile(r'[a-z][a-z0-9.-]*'))}")
    if agent.mcp_servers:
        lines.append("mcpServers:")
        lines += [f"  - {yaml_text(name)}" for name in agent.mcp_servers]
    body = agent.body.strip("\n")
    return "\n".join([*lines, "---", "", body]) + "\n"
