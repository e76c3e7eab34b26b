"""Manifest sections for Claude Code subagents and MCP servers (docs/bmad.md#mcp-manifest).

`mcp_servers` maps a server name to a stdio server (`command`, `args`, `env`) or a
remote one (`type: http | sse`, `url`, `headers`); `mcp_servers_closed` says that no
other server may appear in the repository's MCP configuration files; `claude_agents`
lists Claude Code subagents (`id`, `description`, `tools`, `model`, the `mcp_servers`
each may use, and the `body`, its system prompt).

The pydantic models check each value on its own; `mcp_cross_check_errors` checks what
needs the whole section, on plain (possibly invalid) values, so that `manifest_checks`
reports it with line and column: the shape of each server, references to undeclared
servers, and secrets. Environment and header values must carry secrets as `${VAR}`
references; a literal secret anywhere in a server (`secretscan`) is an error whose
message names the kind of secret, never the value. This module imports nothing of the
rest of the schema, which imports it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, WithJsonSchema

from provisioning.engine import secretscan
from provisioning.engine.paths import ID_PATTERN, ID_RE, is_valid_id
from provisioning.engine.yamlsafe import PathKey

SERVER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"
TOOL_PATTERN = r"^[A-Za-z][A-Za-z0-9_*-]{0,127}(\([^,()\r\n]{1,200}\))?$"
MODEL_PATTERN = r"^(inherit|sonnet|opus|haiku|claude-[a-z0-9][a-z0-9.-]{0,80})$"
REMOTE_TYPES = ("http", "sse")
_CONTROL_RE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_BODY_CONTROL_RE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_STDIO_KEYS = ("command", "args", "env")
_REMOTE_KEYS = ("url", "headers")


def _pattern(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise ValueError(what)
        return value

    return AfterValidator(check)


def _one_line(value: str) -> str:
    if _CONTROL_RE.search(value):
        raise ValueError(
            "must fit on one line, without control or bidirectional-override characters"
        )
    return value


def _body(value: str) -> str:
    if _BODY_CONTROL_RE.search(value):
        raise ValueError("must not contain control or bidirectional-override characters")
    if not value.strip():
        raise ValueError("must not be empty: it is the subagent's system prompt")
    return value


def _agent_id(value: str) -> str:
    if not is_valid_id(value):
        if ID_RE.fullmatch(value):
            raise ValueError(f"{value!r} is a reserved device name on Windows; choose another id")
        raise ValueError(
            "must be 1-63 lowercase ASCII letters, digits or hyphens, starting with a "
            "letter or digit"
        )
    return value


def _schema(pattern: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern})


ServerName = Annotated[
    str,
    Strict(),
    _pattern(
        SERVER_NAME_PATTERN,
        "must be 1-63 ASCII letters, digits, '-' or '_', starting with a letter or digit",
    ),
    _schema(SERVER_NAME_PATTERN),
]
EnvName = Annotated[
    str,
    Strict(),
    _pattern(ENV_NAME_PATTERN, "must be an environment variable name such as GITHUB_TOKEN"),
    _schema(ENV_NAME_PATTERN),
]
HeaderName = Annotated[
    str,
    Strict(),
    _pattern(HEADER_NAME_PATTERN, "must be an HTTP header name such as Authorization"),
    _schema(HEADER_NAME_PATTERN),
]
Setting = Annotated[str, Strict(), Field(max_length=2000), AfterValidator(_one_line)]
ToolName = Annotated[
    str,
    Strict(),
    _pattern(
        TOOL_PATTERN,
        "must be a Claude Code tool name such as Read, Bash or mcp__github, optionally "
        "with a rule in parentheses, and no comma",
    ),
    _schema(TOOL_PATTERN),
]
ModelName = Annotated[
    str,
    Strict(),
    _pattern(MODEL_PATTERN, "must be inherit, sonnet, opus, haiku or a claude-… model id"),
    _schema(MODEL_PATTERN),
]
AgentId = Annotated[str, Strict(), AfterValidator(_agent_id), _schema(ID_PATTERN)]
Description = Annotated[
    str, Strict(), Field(min_length=1, max_length=1024), AfterValidator(_one_line)
]
Body = Annotated[str, Strict(), Field(min_length=1, max_length=20000), AfterValidator(_body)]

_MODEL = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class McpServer(BaseModel):
    """One MCP server: stdio (`command`, `args`, `env`) or remote (`type`, `url`,
    `headers`). Values may use `${VAR}` and `${VAR:-default}` references."""

    model_config = _MODEL

    type: Literal["stdio", "http", "sse"] | None = None
    command: Setting | None = None
    args: tuple[Setting, ...] = ()
    env: dict[EnvName, Setting] = Field(default_factory=dict)
    url: Setting | None = None
    headers: dict[HeaderName, Setting] = Field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return self.type in REMOTE_TYPES


class ClaudeAgent(BaseModel):
    """One Claude Code subagent, written to `.claude/agents/<id>.md`."""

    model_config = _MODEL

    id: AgentId
    description: Description
    tools: tuple[ToolName, ...] = ()  # none: the subagent inherits every tool
    model: ModelName = "inherit"
    mcp_servers: tuple[ServerName, ...] = ()
    body: Body


# --- Rules over the whole section, on plain values -----------------------------------------


def _as_dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _secret_message(kind: str, hint: str) -> str:
    return (
        f"looks like a literal secret ({kind}); write a reference such as {hint} and keep "
        "the value out of the repository"
    )


def _given(server: dict[Any, Any], key: str) -> bool:
    """Whether `key` is set (a dumped model carries every key, empty or None)."""
    return server.get(key) not in (None, "", (), [], {})


def _shape_errors(name: str, server: dict[Any, Any]) -> list[tuple[PathKey, str]]:
    where: PathKey = ("mcp_servers", name)
    kind = server.get("type")
    problems: list[tuple[PathKey, str]] = []
    if kind in REMOTE_TYPES:
        if not _given(server, "url"):
            problems.append(((*where, "type"), f"a {kind} server needs a 'url'"))
        problems += [
            ((*where, key), f"'{key}' is for stdio servers; a {kind} server has url and headers")
            for key in _STDIO_KEYS
            if _given(server, key)
        ]
    elif kind in (None, "stdio"):
        if _given(server, "url") and kind is None:
            problems.append(
                ((*where, "url"), "a remote server needs 'type: http' (or 'type: sse')")
            )
        elif not _given(server, "command"):
            problems.append((where, "a stdio server needs a 'command'"))
        problems += [
            ((*where, key), f"'{key}' is for remote servers (type http or sse)")
            for key in _REMOTE_KEYS
            if _given(server, key) and not (key == "url" and kind is None)
        ]
    url = server.get("url")
    if isinstance(url, str) and not re.match(r"(?i)^(https?://|\$\{)", url):
        problems.append(((*where, "url"), "must start with https:// or http://"))
    return problems


def _named_values(
    name: str, server: dict[Any, Any], key: str, *, header: bool
) -> list[tuple[PathKey, str]]:
    problems: list[tuple[PathKey, str]] = []
    for item, value in _as_dict(server.get(key)).items():
        if not isinstance(value, str) or not isinstance(item, str):
            continue
        path: PathKey = ("mcp_servers", name, key, item)
        found = secretscan.named_secret_kind(item, value, header=header)
        if found is not None:
            hint = secretscan.reference_hint(item)
            problems.append((path, _secret_message(found, hint)))
            continue
        malformed = secretscan.reference_problem(value)
        if malformed is not None:
            problems.append((path, malformed))
    return problems


def _plain_values(name: str, server: dict[Any, Any]) -> list[tuple[PathKey, str]]:
    problems: list[tuple[PathKey, str]] = []
    args = _as_list(server.get("args"))
    for i, arg in enumerate(args):
        if not isinstance(arg, str):
            continue
        path: PathKey = ("mcp_servers", name, "args", i)
        found = secretscan.secret_kind(arg)
        previous = args[i - 1] if i else None
        after_flag = isinstance(previous, str) and secretscan.flag_says_secret(previous)
        if found is None and after_flag and secretscan.literal_part(arg).strip():
            found = f"a literal value after {previous}"
        if found is not None:
            problems.append((path, _secret_message(found, "${API_TOKEN}")))
    for key in ("command", "url"):
        value = server.get(key)
        found = secretscan.secret_kind(value) if isinstance(value, str) else None
        if found is not None:
            problems.append((("mcp_servers", name, key), _secret_message(found, "${API_TOKEN}")))
    return problems


def _agent_errors(value: dict[str, Any], servers: dict[Any, Any]) -> list[tuple[PathKey, str]]:
    problems: list[tuple[PathKey, str]] = []
    seen: dict[str, int] = {}
    for i, agent in enumerate(_as_list(value.get("claude_agents"))):
        if not isinstance(agent, dict):
            continue
        ident = agent.get("id")
        if isinstance(ident, str):
            if ident in seen:
                message = f"the id {ident!r} is already used at claude_agents[{seen[ident]}].id"
                problems.append((("claude_agents", i, "id"), message))
            seen.setdefault(ident, i)
        listed: set[str] = set()
        for j, server in enumerate(_as_list(agent.get("mcp_servers"))):
            path: PathKey = ("claude_agents", i, "mcp_servers", j)
            if not isinstance(server, str):
                continue
            if server in listed:
                problems.append((path, f"{server!r} is listed more than once"))
            elif server not in servers:
                problems.append(
                    (path, f"the MCP server {server!r} is not declared under mcp_servers")
                )
            listed.add(server)
    return problems


def mcp_cross_check_errors(value: Any) -> list[tuple[PathKey, str]]:
    """Rules of `mcp_servers` and `claude_agents` on a loaded (possibly invalid) manifest."""
    if not isinstance(value, dict):
        return []
    servers = _as_dict(value.get("mcp_servers"))
    problems: list[tuple[PathKey, str]] = []
    for name, server in servers.items():
        if not isinstance(server, dict) or not isinstance(name, str):
            continue
        problems += _shape_errors(name, server)
        problems += _named_values(name, server, "env", header=False)
        problems += _named_values(name, server, "headers", header=True)
        problems += _plain_values(name, server)
    problems += _agent_errors(value, servers)
    return problems
