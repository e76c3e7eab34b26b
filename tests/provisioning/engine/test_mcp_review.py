"""MCP servers and subagents in the gap report: declared versus present, a committed
literal secret in any MCP configuration (never printed), servers outside a closed list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from provisioning.engine.mcp_review import MCP_FINDING_CODES, review_tooling, without_comments
from provisioning.engine.pipeline import (
    analyze_repo,
    audit_repo,
    plan_repo,
    plan_to_dict,
    report_to_dict,
    sync_status,
)
from provisioning.engine.types import Finding, Severity
from tests.provisioning.engine.builders import write_file
from tests.provisioning.engine.test_mcp_provisioning import (
    MCP,
    as_manifest,
    manifest_data,
    provision,
    repository,
)

TOKEN = "ghp_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa"
AWS = "AKIA" + "QWERTYUIOPASDFGH"


def by_code(findings: tuple[Finding, ...] | list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def everything_said(report: dict[str, Any], plan: dict[str, Any] | None = None) -> str:
    return json.dumps(report) + json.dumps(plan or {})


def test_a_literal_secret_in_any_mcp_file_is_an_error_that_never_shows_it(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path)
    provision(root, manifest_data())
    team = json.loads((root / MCP).read_text())
    team["mcpServers"]["grafana"] = {
        "command": "mcp-grafana",
        "args": ["--api-key", "plainvalue"],
        "env": {"GRAFANA_API_KEY": "glsa_notareference", "AWS_KEY_ID": AWS},
    }
    (root / MCP).write_text(json.dumps(team, indent=2) + "\n")
    write_file(
        root,
        ".vscode/mcp.json",
        '{\n  // GitHub for Copilot\n  "servers": {\n    "github": {\n'
        '      "type": "http", "url": "https://api.githubcopilot.com/mcp/",\n'
        f'      "headers": {{"Authorization": "Bearer {TOKEN}"}},\n    }},\n  }},\n}}\n',
    )
    write_file(
        root,
        ".cursor/mcp.json",
        '{"mcpServers": {"github": {"command": "npx", '
        '"env": {"GITHUB_TOKEN": "${env:GITHUB_TOKEN}"}}}}\n',
    )
    analysis = analyze_repo(root, as_manifest(manifest_data()))
    found = by_code(analysis.report.findings, "MCP_SECRET_COMMITTED")
    assert {f.paths for f in found} == {(MCP,), (".vscode/mcp.json",)}
    claude = next(f for f in found if f.paths == (MCP,))
    assert claude.severity is Severity.ERROR
    assert not claude.fixable
    assert "mcpServers.grafana.env.GRAFANA_API_KEY" in claude.explanation
    assert "mcpServers.grafana.env.AWS_KEY_ID (an AWS access key)" in claude.explanation
    assert "mcpServers.grafana.args[1] (a literal value after --api-key)" in claude.explanation
    vscode = next(f for f in found if f.paths == (".vscode/mcp.json",))
    assert "servers.github.headers.Authorization (a GitHub token)" in vscode.explanation
    assert sync_status(analysis.report) == "drift"
    # The secret is nowhere in what bmadweb stores or shows: report, plan, diffs.
    _, plan = plan_repo(root, as_manifest(manifest_data()), manifest_revision="x")
    said = everything_said(report_to_dict(analysis.report), plan_to_dict(plan))
    for secret in (TOKEN, AWS, "glsa_notareference", "plainvalue"):
        assert secret not in said


def test_diff_lines_holding_a_secret_are_withheld_but_the_file_keeps_them(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path)
    provision(root, manifest_data())
    team = json.loads((root / MCP).read_text())
    sentry = team["mcpServers"]["sentry"]
    team["mcpServers"]["sentry"] = {"type": "http", "legacy_token": TOKEN, **sentry}
    (root / MCP).write_text(json.dumps(team, indent=2) + "\n")
    data = manifest_data()
    data["mcp_servers"]["sentry"]["url"] = "https://mcp.sentry.dev/v2/mcp"
    _, plan = plan_repo(root, as_manifest(data), manifest_revision="x")
    op = next(op for op in plan.operations if op.path == MCP)
    assert TOKEN not in op.diff
    assert "withheld: it holds a literal secret (a GitHub token)" in op.diff
    assert op.content is not None
    assert TOKEN in op.content  # the team's file is the team's: only the display hides it


def test_a_closed_list_reports_every_server_the_manifest_does_not_allow(tmp_path: Path) -> None:
    root = repository(tmp_path)  # the team's .mcp.json has "linear"
    write_file(root, ".roo/mcp.json", '{"mcpServers": {"scraper": {"command": "scrape"}}}\n')
    data = manifest_data()
    assert not by_code(
        analyze_repo(root, as_manifest(data)).report.findings, "MCP_SERVER_NOT_ALLOWED"
    )
    data["mcp_servers_closed"] = True
    report = analyze_repo(root, as_manifest(data)).report
    (finding,) = by_code(report.findings, "MCP_SERVER_NOT_ALLOWED")
    assert finding.severity is Severity.ERROR
    assert "linear (.mcp.json)" in finding.explanation
    assert "scraper (.roo/mcp.json)" in finding.explanation
    assert finding.paths == (".mcp.json", ".roo/mcp.json")
    assert report.tooling is not None
    allowed = {row.name: row.allowed for row in report.tooling.servers}
    assert allowed == {"github": True, "sentry": True, "linear": False, "scraper": False}


def test_declared_and_present_servers_and_subagents_with_their_states(tmp_path: Path) -> None:
    root = repository(tmp_path)
    write_file(root, ".claude/agents/team-helper.md", "---\nname: team-helper\n---\nHelp.\n")
    data = manifest_data()
    before = analyze_repo(root, as_manifest(data)).report.tooling
    assert before is not None
    rows = {r.name: (r.declared, r.state, r.paths) for r in before.servers}
    assert rows == {
        "github": (True, "missing", ()),
        "sentry": (True, "missing", ()),
        "linear": (False, "unmanaged", (MCP,)),
    }
    agents = {r.id: (r.declared, r.present, r.state) for r in before.subagents}
    assert agents == {
        "security-reviewer": (True, False, "missing"),
        "compliance-checker": (True, False, "missing"),
        "team-helper": (False, True, "unmanaged"),
    }
    provision(root, data)
    team = json.loads((root / ".cursor/mcp.json").read_text())
    team["mcpServers"]["sentry"]["url"] = "https://sentry.internal/mcp"
    (root / ".cursor/mcp.json").write_text(json.dumps(team, indent=2) + "\n")
    after = analyze_repo(root, as_manifest(data)).report
    assert after.tooling is not None
    rows = {r.name: (r.state, r.paths) for r in after.tooling.servers}
    assert rows["github"] == ("up-to-date", (MCP, ".cursor/mcp.json"))
    assert rows["sentry"] == ("modified", (MCP, ".cursor/mcp.json"))
    agents = {r.id: (r.present, r.state) for r in after.tooling.subagents}
    assert agents["security-reviewer"] == (True, "up-to-date")
    tooling = report_to_dict(after)["tooling"]
    assert tooling["mcp_configs"] == [MCP, ".cursor/mcp.json"]
    assert tooling["mcp_servers"][0] == {
        "name": "github",
        "declared": True,
        "allowed": True,
        "state": "up-to-date",
        "paths": [MCP, ".cursor/mcp.json"],
    }
    assert {"id", "declared", "present", "state", "path"} == set(tooling["subagents"][0])


def test_without_a_manifest_secrets_are_still_found(tmp_path: Path) -> None:
    root = repository(tmp_path, team_mcp={"mcpServers": {"x": {"env": {"API_KEY": TOKEN}}}})
    report = audit_repo(root)
    (finding,) = by_code(report.findings, "MCP_SECRET_COMMITTED")
    assert TOKEN not in json.dumps(report_to_dict(report))
    assert finding.paths == (MCP,)
    assert report.tooling is not None
    assert [(r.name, r.declared, r.allowed) for r in report.tooling.servers] == [("x", False, True)]


def test_an_unreadable_mcp_file_is_a_warning_and_a_token_in_it_still_an_error(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path, team_mcp=None)
    write_file(root, ".kiro/settings/mcp.json", '{"mcpServers": {"a": ' + f'"{TOKEN}"')
    write_file(root, ".gemini/settings.json", '{"theme": "dark"}\n')  # no servers: fine
    found, _ = review_tooling(root, None)
    assert {(f.code, f.paths) for f in found} == {
        ("MCP_CONFIG_UNREADABLE", (".kiro/settings/mcp.json",)),
        ("MCP_SECRET_COMMITTED", (".kiro/settings/mcp.json",)),
    }
    for finding in found:
        assert finding.code in MCP_FINDING_CODES
        assert finding.title
        assert finding.explanation
        assert finding.recommendation
        assert TOKEN not in finding.explanation


def test_comments_and_trailing_commas_of_other_tools_files_are_read() -> None:
    text = '{\n  // note\n  "a": {"u": "http://x//y", /* c */ "k": "a\\"b",},\n}'
    assert json.loads(without_comments(text)) == {"a": {"u": "http://x//y", "k": 'a"b'}}
