"""MCP servers and Claude Code subagents on real git repositories: generate, a team's
hand edits, a manifest change, the key-by-key merge of the JSON files and the line
merge of the subagents, every item state, and the lock file's base."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.engine.gap import ItemState
from provisioning.engine.generator import generate
from provisioning.engine.lockfile import parse_lock
from provisioning.engine.manifest import ClaudeAgent, Manifest
from provisioning.engine.paths import LOCK_PATH
from provisioning.engine.pipeline import analyze_repo, plan_repo, plan_to_dict
from provisioning.engine.plan import OpKind, Plan, apply_plan
from provisioning.engine.templates.claude import agent_md
from provisioning.engine.types import BmadInstall, Generation
from tests.provisioning.engine.builders import build_v64
from tests.repos import git

MCP = ".mcp.json"
CURSOR = ".cursor/mcp.json"
REVIEWER = ".claude/agents/security-reviewer.md"
CHECKER = ".claude/agents/compliance-checker.md"
TEAM_MCP = {
    "mcpServers": {
        "linear": {"type": "sse", "url": "https://mcp.linear.app/sse"},
    }
}


def manifest_data() -> dict[str, Any]:
    return {
        "apiVersion": "bmadweb/v1",
        "project": {
            "name": "fleet",
            "bmad_version": ">=6.4,<7",
            "tools": ["claude-code", "cursor"],
        },
        "mcp_servers": {
            "github": {
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-github@2025.4.8"],
                "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"},
            },
            "sentry": {
                "type": "http",
                "url": "https://mcp.sentry.dev/mcp",
                "headers": {"Authorization": "Bearer ${SENTRY_TOKEN}"},
            },
        },
        "claude_agents": [
            {
                "id": "security-reviewer",
                "description": "Reviews diffs for security issues. Use proactively.",
                "tools": ["Read", "Grep", "Glob"],
                "model": "sonnet",
                "mcp_servers": ["github"],
                "body": "You are a security reviewer.\n\nReport findings by severity.\n",
            },
            {
                "id": "compliance-checker",
                "description": "Checks changes against the compliance rules.",
                "body": "Check every change against docs/compliance.md.\n",
            },
        ],
    }


def as_manifest(data: dict[str, Any]) -> Manifest:
    return Manifest.model_validate(data)


def repository(tmp_path: Path, *, team_mcp: dict[str, Any] | None = TEAM_MCP) -> Path:
    """A git checkout of a BMAD 6.4 install where the team already keeps a .mcp.json."""
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code", "cursor"))
    if team_mcp is not None:
        (root / MCP).write_text(json.dumps(team_mcp, indent=2) + "\n")
    git("init", "--quiet", "--initial-branch", "main", cwd=root)
    commit(root, "Team: BMAD and our MCP servers")
    return root


def commit(root: Path, message: str) -> None:
    git("add", "--all", cwd=root)
    git("commit", "--quiet", "--allow-empty", "--message", message, cwd=root)


def provision(root: Path, data: dict[str, Any], message: str = "bmadweb") -> Plan:
    _, plan = plan_repo(root, as_manifest(data), manifest_revision=message)
    apply_plan(root, plan)
    commit(root, message)
    return plan


def states(root: Path, data: dict[str, Any]) -> dict[str, ItemState]:
    return {i.path: i.state for i in analyze_repo(root, as_manifest(data)).report.items}


def ops(plan: Plan) -> dict[str, OpKind]:
    return {op.path: op.kind for op in plan.operations}


def read_json(root: Path, path: str) -> Any:
    return json.loads((root / path).read_text())


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def test_first_run_adds_our_servers_to_the_team_file_and_writes_the_tool_formats(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path)
    plan = provision(root, manifest_data())
    assert ops(plan)[MCP] is OpKind.UPDATE  # the team's file, edited in place
    assert ops(plan)[CURSOR] is OpKind.CREATE
    assert ops(plan)[REVIEWER] is OpKind.CREATE
    assert not plan.requires_approval
    claude = read_json(root, MCP)
    assert list(claude["mcpServers"]) == ["linear", "github", "sentry"]  # team's first
    assert claude["mcpServers"]["linear"] == TEAM_MCP["mcpServers"]["linear"]
    assert claude["mcpServers"]["github"] == {
        "type": "stdio",
        "command": "npx",
        "args": ["-y", "@modelcontextprotocol/server-github@2025.4.8"],
        "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"},
    }
    assert claude["mcpServers"]["sentry"] == {
        "type": "http",
        "url": "https://mcp.sentry.dev/mcp",
        "headers": {"Authorization": "Bearer ${SENTRY_TOKEN}"},
    }
    assert (root / MCP).read_text().startswith('{\n  "mcpServers": {\n    "linear"')
    cursor = read_json(root, CURSOR)["mcpServers"]
    assert cursor["github"]["env"] == {"GITHUB_PERSONAL_ACCESS_TOKEN": "${env:GITHUB_TOKEN}"}
    assert cursor["sentry"] == {
        "url": "https://mcp.sentry.dev/mcp",
        "headers": {"Authorization": "Bearer ${env:SENTRY_TOKEN}"},
    }
    meta, body = front_matter((root / REVIEWER).read_text())
    assert meta == {
        "name": "security-reviewer",
        "description": "Reviews diffs for security issues. Use proactively.",
        "tools": "Read, Grep, Glob, mcp__github",
        "model": "sonnet",
        "mcpServers": ["github"],
    }
    assert body == "\nYou are a security reviewer.\n\nReport findings by severity.\n"
    meta, _ = front_matter((root / CHECKER).read_text())
    assert meta == {
        "name": "compliance-checker",
        "description": "Checks changes against the compliance rules.",
        "model": "inherit",
    }  # no tools: it inherits every tool
    assert "security-reviewer" not in (root / "_bmad/custom/config.toml").read_text()
    lock = parse_lock((root / LOCK_PATH).read_text()).lock
    assert "linear" not in lock.files[MCP].base  # the lock keeps bmadweb's part only
    assert set(states(root, manifest_data()).values()) == {ItemState.UP_TO_DATE}
    _, again = plan_repo(root, as_manifest(manifest_data()), manifest_revision="bmadweb")
    assert again.changes == ()


def test_hand_edits_then_a_manifest_change_merge_key_by_key_and_line_by_line(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path)
    provision(root, manifest_data())
    # The team: a new server of its own, one more variable in ours, a note in a subagent.
    team = read_json(root, MCP)
    team["mcpServers"]["playwright"] = {"command": "npx", "args": ["@playwright/mcp"]}
    team["mcpServers"]["github"]["env"]["GITHUB_HOST"] = "${GITHUB_HOST}"
    (root / MCP).write_text(json.dumps(team, indent=2) + "\n")
    reviewer = root / REVIEWER
    reviewer.write_text(reviewer.read_text() + "\nAlso check the OWASP top ten.\n")
    commit(root, "Team: playwright, GitHub Enterprise, OWASP")
    found = states(root, manifest_data())
    assert found[MCP] is ItemState.MODIFIED
    assert found[REVIEWER] is ItemState.MODIFIED
    _, kept = plan_repo(root, as_manifest(manifest_data()), manifest_revision="bmadweb")
    assert kept.changes == ()  # edits kept, nothing rewritten

    # The platform team: a new GitHub server release, a new server, a reworded subagent,
    # and the compliance subagent retired.
    data = manifest_data()
    data["mcp_servers"]["github"]["args"] = ["-y", "@modelcontextprotocol/server-github@2025.9"]
    data["mcp_servers"]["postgres"] = {"command": "uvx", "args": ["postgres-mcp"]}
    data["claude_agents"][0]["description"] = "Reviews every diff for security issues."
    del data["claude_agents"][1]
    found = states(root, data)
    assert found[MCP] is ItemState.CONFLICT
    assert found[CURSOR] is ItemState.OUTDATED
    assert found[REVIEWER] is ItemState.CONFLICT
    assert found[CHECKER] is ItemState.ORPHANED
    plan = provision(root, data, "bmadweb: new manifest")
    assert ops(plan)[MCP] is OpKind.MERGE
    assert ops(plan)[CURSOR] is OpKind.UPDATE
    assert ops(plan)[REVIEWER] is OpKind.MERGE
    assert ops(plan)[CHECKER] is OpKind.DELETE
    assert plan.requires_approval
    assert plan.conflicts == ()
    servers = read_json(root, MCP)["mcpServers"]
    assert list(servers) == ["linear", "github", "sentry", "playwright", "postgres"]
    assert servers["github"]["args"] == ["-y", "@modelcontextprotocol/server-github@2025.9"]
    assert servers["github"]["env"]["GITHUB_HOST"] == "${GITHUB_HOST}"
    assert servers["playwright"] == team["mcpServers"]["playwright"]
    assert read_json(root, CURSOR)["mcpServers"]["postgres"] == {
        "command": "uvx",
        "args": ["postgres-mcp"],
    }
    text = reviewer.read_text()
    assert "Reviews every diff for security issues." in text
    assert text.endswith("\nAlso check the OWASP top ten.\n")
    assert not (root / CHECKER).exists()
    after = states(root, data)
    assert after[MCP] is ItemState.MODIFIED  # the team's variable stays the team's
    assert after[CURSOR] is ItemState.UP_TO_DATE
    assert after[REVIEWER] is ItemState.MODIFIED
    assert analyze_repo(root, as_manifest(data)).report.in_sync
    assert git("status", "--porcelain", cwd=root) == ""


def test_the_same_key_changed_on_both_sides_is_reported_with_its_path_not_written(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path)
    provision(root, manifest_data())
    team = read_json(root, MCP)
    team["mcpServers"]["github"]["args"] = ["-y", "@modelcontextprotocol/server-github@fork"]
    team["mcpServers"]["sentry"]["url"] = "https://sentry.internal/mcp"
    before = json.dumps(team, indent=4) + "\n"  # the team prefers 4 spaces
    (root / MCP).write_text(before)
    commit(root, "Team: our fork")
    data = manifest_data()
    data["mcp_servers"]["github"]["args"] = ["-y", "@modelcontextprotocol/server-github@2025.9"]
    _, plan = plan_repo(root, as_manifest(data), manifest_revision="r")
    (conflict,) = plan.conflicts
    assert conflict.path == MCP
    assert conflict.keys == ("mcpServers.github.args",)
    assert "fork" not in conflict.reason
    assert ops(plan)[MCP] is OpKind.SKIP
    assert plan_to_dict(plan)["conflicts"][0]["keys"] == ["mcpServers.github.args"]
    apply_plan(root, plan)
    assert (root / MCP).read_text() == before  # never written with markers
    old_base = parse_lock(git("show", f"HEAD:{LOCK_PATH}", cwd=root)).lock.files[MCP].base
    assert parse_lock((root / LOCK_PATH).read_text()).lock.files[MCP].base == old_base

    # Disjoint edits of the same server merge, in the team's indentation.
    team["mcpServers"]["github"]["args"] = data["mcp_servers"]["github"]["args"]
    (root / MCP).write_text(json.dumps(team, indent=4) + "\n")
    data["mcp_servers"]["sentry"]["headers"]["X-Org"] = "acme"
    plan = provision(root, data)
    assert ops(plan)[MCP] is OpKind.MERGE
    text = (root / MCP).read_text()
    assert text.startswith('{\n    "mcpServers": {\n        "linear"')
    sentry = json.loads(text)["mcpServers"]["sentry"]
    assert sentry["url"] == "https://sentry.internal/mcp"
    assert sentry["headers"]["X-Org"] == "acme"


def test_servers_the_manifest_drops_leave_the_file_and_the_team_servers_stay(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path)
    provision(root, manifest_data())
    data = manifest_data()
    del data["mcp_servers"]["sentry"]
    plan = provision(root, data)
    assert ops(plan)[MCP] is OpKind.UPDATE
    assert list(read_json(root, MCP)["mcpServers"]) == ["linear", "github"]
    # No server at all any more: ours leave, the team's file stays (no orphan delete).
    data = manifest_data()
    data["mcp_servers"] = {}
    data["claude_agents"][0]["mcp_servers"] = []
    plan = provision(root, data)
    assert ops(plan)[MCP] is OpKind.UPDATE
    assert read_json(root, MCP) == TEAM_MCP
    assert ops(plan)[CURSOR] is OpKind.UPDATE
    assert read_json(root, CURSOR) == {"mcpServers": {}}
    assert OpKind.DELETE not in {ops(plan)[MCP], ops(plan)[CURSOR]}
    again = states(root, data)
    assert again[MCP] is ItemState.UP_TO_DATE
    # A server the team changed is not removed with ours.
    root2 = repository(tmp_path / "second")
    provision(root2, manifest_data())
    team = read_json(root2, MCP)
    team["mcpServers"]["sentry"]["url"] = "https://sentry.internal/mcp"
    (root2 / MCP).write_text(json.dumps(team, indent=2) + "\n")
    data = manifest_data()
    del data["mcp_servers"]["sentry"]
    provision(root2, data)
    assert read_json(root2, MCP)["mcpServers"]["sentry"]["url"] == "https://sentry.internal/mcp"


def test_a_team_server_of_the_same_name_is_taken_over_and_a_broken_file_never_written(
    tmp_path: Path,
) -> None:
    team = copy.deepcopy(TEAM_MCP)
    team["mcpServers"]["github"] = {"command": "docker", "args": ["run", "gh"], "timeout": 5}
    root = repository(tmp_path, team_mcp=team)
    provision(root, manifest_data())
    github = read_json(root, MCP)["mcpServers"]["github"]
    assert github["command"] == "npx"
    assert github["timeout"] == 5  # a key bmadweb does not write stays
    (root / MCP).write_text('{"mcpServers": {"github": {}, "github": {}}}\n')
    found = analyze_repo(root, as_manifest(manifest_data())).report
    item = next(i for i in found.items if i.path == MCP)
    assert item.state is ItemState.CONFLICT
    assert "appears twice" in item.reason
    _, plan = plan_repo(root, as_manifest(manifest_data()), manifest_revision="r")
    assert ops(plan)[MCP] is OpKind.SKIP


def test_no_tool_but_claude_code_means_no_cursor_file_and_older_installs_get_a_note() -> None:
    data = manifest_data()
    data["project"]["tools"] = ["claude-code"]
    data["mcp_servers"]["github"]["env"]["LOG_LEVEL"] = "${LOG_LEVEL:-info}"
    install = BmadInstall(Generation.V6_4, "6.12.0", ("core",), ("claude-code",), "_bmad")
    paths = set(generate(as_manifest(data), install).by_path())
    assert {MCP, REVIEWER, CHECKER} <= paths
    assert CURSOR not in paths
    data["project"]["tools"] = ["claude-code", "cursor"]
    generated = generate(as_manifest(data), install)
    cursor = json.loads(generated.by_path()[CURSOR].content)["mcpServers"]["github"]
    assert cursor["env"]["LOG_LEVEL"] == "${env:LOG_LEVEL}"
    assert any("no ${VAR:-default}" in note for note in generated.notes)
    for generation in (Generation.V4, Generation.V6_3, Generation.NONE):
        older = generate(as_manifest(data), BmadInstall(generation))
        assert not {MCP, CURSOR, REVIEWER} & set(older.by_path())
        assert any("MCP servers and Claude Code subagents" in n for n in older.notes)


_words = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from("\x85\u2028\u2029\ufeff\"'#:-{}[]&*!|>%@`"),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    description=_words.filter(lambda t: t.strip() != ""),
    ident=st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
    body=st.text(max_size=80).filter(lambda t: t.strip() != ""),
)
def test_any_subagent_reads_back_as_written(description: str, ident: str, body: str) -> None:
    # The writer is checked on any text, even what the schema refuses (control characters).
    data = {"id": ident, "description": description, "body": body, "tools": ("Read",)}
    agent = ClaudeAgent.model_construct(**data, model="inherit", mcp_servers=())
    meta, text = front_matter(agent_md(agent))
    assert meta["name"] == ident
    assert meta["description"] == description
    assert meta["tools"] == "Read"
    assert text == "\n" + body.strip("\n") + "\n"
