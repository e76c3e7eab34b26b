"""MCP servers and Claude Code subagents in a repository: declared versus present, and
findings (docs/bmad.md#mcp-findings).

`review_tooling(root, manifest, report)` reads every project MCP configuration file the
assistants use (`.mcp.json`, `.cursor/mcp.json`, `.vscode/mcp.json`, …) and the subagents
in `.claude/agents/`, and returns:

- `MCP_SECRET_COMMITTED` (error): a literal secret in a committed MCP configuration,
  named by file and key path and kind, never by value;
- `MCP_SERVER_NOT_ALLOWED` (error): with `mcp_servers_closed`, a server in any of
  those files that the manifest does not declare;
- `MCP_CONFIG_UNREADABLE` (warning): a configuration file that is not a JSON object,
  which therefore could not be checked;
- a `ToolingInventory`: each server (declared, where present, whether allowed, the state
  of bmadweb's entry) and each subagent (declared, present, the state of its file).

Nothing is written; files are read like every other repository file (no symbolic link
followed, size-capped). Without a manifest only the secrets are judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provisioning.engine import detect_read as rd
from provisioning.engine import secretscan
from provisioning.engine.gap import GapReport, ManagedItem
from provisioning.engine.generator_claude import MCP_KIND, MCP_ROOT
from provisioning.engine.jsonedit import JsonEntriesEdit
from provisioning.engine.jsonmerge import JsonTextError, load_json
from provisioning.engine.manifest import Manifest
from provisioning.engine.mcp_inventory import ServerRow, SubagentRow, ToolingInventory
from provisioning.engine.paths import CLAUDE_AGENTS_DIR, CURSOR_MCP_PATH, MCP_JSON_PATH
from provisioning.engine.plan import Plan
from provisioning.engine.tomlmerge import key_part, same
from provisioning.engine.types import Finding, Severity

MCP_FINDING_CODES = ("MCP_SECRET_COMMITTED", "MCP_SERVER_NOT_ALLOWED", "MCP_CONFIG_UNREADABLE")
# Project MCP files and the object that holds their servers.
MCP_CONFIGS: tuple[tuple[str, str], ...] = (
    (MCP_JSON_PATH, MCP_ROOT),  # Claude Code
    (CURSOR_MCP_PATH, MCP_ROOT),  # Cursor
    (".vscode/mcp.json", "servers"),  # VS Code, GitHub Copilot
    (".roo/mcp.json", "mcpServers"),  # Roo Code
    (".kiro/settings/mcp.json", "mcpServers"),  # Kiro
    (".gemini/settings.json", "mcpServers"),  # Gemini CLI
    ("opencode.json", "mcp"),  # opencode
)
_NAMED = {"env": False, "environment": False, "headers": True, "http_headers": True}
_SHOWN = 10  # key paths listed per finding


@dataclass(frozen=True, slots=True)
class _Config:
    path: str
    servers: dict[str, Any]
    secrets: tuple[str, ...]  # "<key path> (<kind>)"


def _path(*parts: str | int) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{key_part(part)}" if text else part)
    return text


def _strings(
    value: Any, where: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*where, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*where, i))


def _server_secrets(root_key: str, name: str, server: Any) -> list[str]:
    found: list[str] = []
    entries = server.items() if isinstance(server, dict) else ()
    for key, value in entries:
        where: tuple[str | int, ...] = (root_key, name, key)
        if key in _NAMED and isinstance(value, dict):
            for item, text in value.items():
                kind = None
                if isinstance(text, str):
                    header = _NAMED[key]
                    kind = secretscan.named_secret_kind(item, text, header=header, any_syntax=True)
                if kind:
                    found.append(f"{_path(*where, item)} ({kind})")
            continue
        previous: str | None = None
        for at, text in _strings(value, where):
            kind = secretscan.secret_kind(text, any_syntax=True)
            literal = secretscan.literal_part(text, any_syntax=True).strip()
            if kind is None and previous and secretscan.flag_says_secret(previous) and literal:
                kind = f"a literal value after {previous}"
            if kind:
                found.append(f"{_path(*at)} ({kind})")
            previous = text
    return found


def _read_config(root: Path, path: str, root_key: str) -> tuple[_Config | None, str | None]:
    result = rd.read_capped(root, path)
    if result.missing:
        return None, None
    text = rd.decode_text(result.data) if result.data is not None else None
    if text is None:
        return None, result.problem or "is not UTF-8 text"
    try:
        value = _lenient_json(text)
    except JsonTextError as exc:
        kind = secretscan.secret_kind(text)  # a broken file can still leak a token
        leaked = (f"the file's text ({kind})",) if kind else ()
        return _Config(path, {}, leaked), str(exc)
    if not isinstance(value, dict) or not isinstance(value.get(root_key, {}), dict):
        return None, f"has no {root_key!r} object"
    servers = value.get(root_key, {})
    secrets = [s for n, srv in servers.items() for s in _server_secrets(root_key, n, srv)]
    return _Config(path, servers, tuple(secrets)), None


def _lenient_json(text: str) -> Any:
    try:
        return load_json(text)
    except JsonTextError:
        return load_json(without_comments(text))


def without_comments(text: str) -> str:
    """JSON with comments (`//`, `/* */`) and trailing commas, as VS Code and Cursor accept
    it, made plain JSON: only for reading other tools' files, never for writing."""
    out: list[str] = []
    i, quoted = 0, False
    while i < len(text):
        char = text[i]
        if quoted:
            out.append(char)
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
            out.append(char)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        elif char in "}]":
            while out and out[-1].isspace():
                out.pop()
            if out and out[-1] == ",":
                out.pop()
            out.append(char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _secret_finding(config: _Config) -> Finding:
    listed = "; ".join(config.secrets[:_SHOWN])
    more = len(config.secrets) - _SHOWN
    tail = f"; and {more} more" if more > 0 else ""
    return Finding(
        code="MCP_SECRET_COMMITTED",
        severity=Severity.ERROR,
        title=f"A literal secret is committed in {config.path}",
        explanation=(
            f"{listed}{tail}. Everyone who can read the repository can use it, and it stays "
            "in the git history after it is removed. The value is not shown here."
        ),
        recommendation=(
            "Revoke and rotate the credential, then write the value as a reference such as "
            "${GITHUB_TOKEN} (Cursor: ${env:GITHUB_TOKEN}) and set the variable on each "
            "machine or in the CI secret store."
        ),
        fixable=False,
        paths=(config.path,),
    )


def _closed_finding(names: Mapping[str, list[str]]) -> Finding:
    listed = ", ".join(f"{n} ({', '.join(p)})" for n, p in sorted(names.items()))
    return Finding(
        code="MCP_SERVER_NOT_ALLOWED",
        severity=Severity.ERROR,
        title="MCP servers outside the approved list are configured",
        explanation=(
            f"The manifest closes the list of MCP servers (mcp_servers_closed), and these are "
            f"not on it: {listed}."
        ),
        recommendation=(
            "Remove them from the files, or ask the owners of the manifest to approve them "
            "under mcp_servers."
        ),
        fixable=False,
        paths=tuple(sorted({p for paths in names.values() for p in paths})),
    )


def _unreadable_finding(path: str, problem: str) -> Finding:
    return Finding(
        code="MCP_CONFIG_UNREADABLE",
        severity=Severity.WARNING,
        title=f"{path} cannot be checked",
        explanation=f"The MCP configuration {path} {problem}, so its servers and secrets "
        "were not checked and the assistant may not read it either.",
        recommendation="Make it a JSON object with its servers under the documented key.",
        fixable=False,
        paths=(path,),
    )


def _entry_states(item: ManagedItem) -> dict[str, str]:
    """The state of each of bmadweb's entries in one generated MCP file."""
    edit = item.generated.edit if item.generated is not None else None
    if not isinstance(edit, JsonEntriesEdit):
        return {}
    try:
        value = load_json(item.current) if item.current is not None else {}
    except JsonTextError:
        return dict.fromkeys(edit.entries, "conflict")
    found = value.get(edit.root) if isinstance(value, dict) else None
    found = found if isinstance(found, dict) else {}
    states = {}
    for name, wanted in edit.entries.items():
        entry = found.get(name)
        if not isinstance(entry, dict):
            states[name] = "missing"
        elif all(k in entry and same(entry[k], v) for k, v in wanted.items()):
            states[name] = "up-to-date"
        else:
            states[name] = "modified"
    return states


_RANK = ("conflict", "missing", "modified", "up-to-date")


def _servers(
    manifest: Manifest | None, configs: list[_Config], items: Mapping[str, ManagedItem]
) -> tuple[ServerRow, ...]:
    declared = list(manifest.mcp_servers) if manifest is not None else []
    closed = bool(manifest and manifest.mcp_servers_closed)
    where: dict[str, list[str]] = {}
    for config in configs:
        for name in config.servers:
            where.setdefault(name, []).append(config.path)
    ours = [_entry_states(i) for i in items.values() if i.kind == MCP_KIND]
    rows = []
    for name in [*declared, *sorted(n for n in where if n not in declared)]:
        if name in declared:
            states = [entries.get(name, "missing") for entries in ours] or ["missing"]
            state = next(s for s in _RANK if s in states)
        else:
            state = "unmanaged"
        allowed = name in declared or not closed
        rows.append(ServerRow(name, name in declared, allowed, state, tuple(where.get(name, ()))))
    return tuple(rows)


def _subagents(
    root: Path, manifest: Manifest | None, items: Mapping[str, ManagedItem]
) -> tuple[SubagentRow, ...]:
    listed = rd.list_dir(root, CLAUDE_AGENTS_DIR)
    present = {
        name[: -len(".md")] for name, is_dir in listed if not is_dir and name.endswith(".md")
    }
    declared = [a.id for a in manifest.claude_agents] if manifest is not None else []
    rows = []
    for ident in [*declared, *sorted(i for i in present if i not in declared)]:
        path = f"{CLAUDE_AGENTS_DIR}/{ident}.md"
        item = items.get(path)
        if item is not None:
            state = str(item.state)
        else:
            state = "missing" if ident in declared else "unmanaged"
        rows.append(SubagentRow(ident, ident in declared, ident in present, state, path))
    return tuple(rows)


def review_tooling(
    root: Path, manifest: Manifest | None, report: GapReport | None = None
) -> tuple[list[Finding], ToolingInventory]:
    """Findings and the declared-versus-present inventory of MCP servers and subagents."""
    findings: list[Finding] = []
    configs: list[_Config] = []
    for path, root_key in MCP_CONFIGS:
        config, problem = _read_config(root, path, root_key)
        if config is not None:
            configs.append(config)
            if config.secrets:
                findings.append(_secret_finding(config))
        if problem is not None:
            findings.append(_unreadable_finding(path, problem))
    items = {item.path: item for item in report.items} if report is not None else {}
    servers = _servers(manifest, configs, items)
    refused = {row.name: list(row.paths) for row in servers if not row.allowed}
    if refused:
        findings.append(_closed_finding(refused))
    inventory = ToolingInventory(
        servers=servers,
        subagents=_subagents(root, manifest, items),
        closed=bool(manifest and manifest.mcp_servers_closed),
        configs=tuple(c.path for c in configs),
    )
    return findings, inventory


_WITHHELD = "[a line of this MCP configuration is withheld: it holds a literal secret ({})]"


def withhold_secrets(plan: Plan) -> Plan:
    """`plan` with every diff line of an MCP configuration that holds a literal secret
    replaced by a sentence naming its kind: plans are stored and shown to everyone
    who may view the project, while the file keeps what it has. The diffs are not
    computed here: each such operation withholds its lines whenever its diff is."""
    paths = {path for path, _ in MCP_CONFIGS}
    if not any(op.path in paths for op in plan.changes):
        return plan
    operations = tuple(
        replace(op, redact=withhold_diff) if op.path in paths else op for op in plan.operations
    )
    return replace(plan, operations=operations)


def withhold_diff(diff: str) -> str:
    """`diff` with each line that holds a literal secret replaced by a sentence."""
    return "".join(_withheld(line) for line in diff.splitlines(keepends=True))


_PAIR = re.compile(r'^\s*"((?:[^"\\]|\\.)+)"\s*:\s*"((?:[^"\\]|\\.)*)",?\s*$')


def _withheld(line: str) -> str:
    if line.startswith(("---", "+++", "@@")) or line[:1] not in ("+", "-", " "):
        return line
    kind = secretscan.secret_kind(line[1:], any_syntax=True)
    pair = _PAIR.match(line[1:])
    if kind is None and pair is not None:
        name, value = pair.groups()
        kind = secretscan.named_secret_kind(name, value, header=True, any_syntax=True)
    if kind is None:
        return line
    return f"{line[0]}{_WITHHELD.format(kind)}\n"
