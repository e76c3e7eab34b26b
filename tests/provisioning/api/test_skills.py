"""Skills through the API: the declared ones before any analysis, then the state of their
files from the latest report."""

from __future__ import annotations

import json

import pytest

from projects import services as project_services
from provisioning.models import Run, RunKind, RunStatus

pytestmark = pytest.mark.django_db


SKILLS_MANIFEST = """\
apiVersion: bmadweb/v1
project:
  name: healthai
  bmad_version: ">=6.4,<7"
  tools: [claude-code]
leaders:
  - id: dev-leader
    name: Dev Leader
    domain: engineering
    phase: implementation
    description: Routes engineering requests.
    specialists:
      - id: frontend-specialist
        name: Frontend Specialist
        domain: frontend
customizations:
  bmad-agent-pm:
    principles: ["Prefer short PRDs."]
"""


@pytest.fixture
def skills_project(bmad_project, owner):  # type: ignore[no-untyped-def]
    project_services.manifest_save(actor=owner, project=bmad_project, yaml_text=SKILLS_MANIFEST)
    return bmad_project


def test_skills_before_analysis_list_the_declared_ones(skills_project, as_owner):
    body = as_owner.get("/projects/healthai/skills").json()
    assert body["report_run_id"] is None
    assert body["manifest_revision"] == 2
    got = {(s["id"], s["kind"], s["declared"], s["state"]) for s in body["skills"]}
    assert got == {
        ("dev-leader", "leader", True, "not-analysed"),
        ("frontend-specialist", "specialist", True, "not-analysed"),
        ("bmad-agent-pm", "customization", True, "not-analysed"),
    }


def test_skills_after_analysis_carry_the_state_of_their_files(skills_project, owner, as_owner):
    report = {
        "items": [
            {"path": ".claude/skills/dev-leader/SKILL.md", "state": "up-to-date", "kind": "skill"},
            {"path": ".cursor/skills/dev-leader/SKILL.md", "state": "modified", "kind": "skill"},
            {"path": ".claude/skills/old-helper/SKILL.md", "state": "orphaned", "kind": "skill"},
            {
                "path": "_bmad/custom/bmad-agent-pm.toml",
                "state": "missing",
                "kind": "customization",
            },
            {"path": "_bmad/custom/config.toml", "state": "missing", "kind": "agent-registration"},
        ]
    }
    Run.objects.create(
        project=skills_project,
        kind=RunKind.ANALYZE,
        status=RunStatus.SUCCEEDED,
        actor=owner,
        report=report,
    )
    skills = {s["id"]: s for s in as_owner.get("/projects/healthai/skills").json()["skills"]}
    assert skills["dev-leader"]["state"] == "modified"
    assert skills["dev-leader"]["installed"] is True
    assert len(skills["dev-leader"]["paths"]) == 2
    assert (skills["bmad-agent-pm"]["installed"], skills["bmad-agent-pm"]["state"]) == (
        False,
        "missing",
    )
    assert skills["frontend-specialist"]["state"] == "missing"
    assert skills["old-helper"]["kind"] == "installed"
    assert skills["old-helper"]["declared"] is False
    assert "config" not in skills


MCP_MANIFEST = (
    SKILLS_MANIFEST
    + """\
mcp_servers:
  github:
    command: npx
    args: ["-y", "@modelcontextprotocol/server-github"]
    env: {GITHUB_PERSONAL_ACCESS_TOKEN: "${GITHUB_TOKEN}"}
mcp_servers_closed: true
claude_agents:
  - id: security-reviewer
    description: Reviews diffs for security issues.
    mcp_servers: [github]
    body: You review diffs.
"""
)
TEAM_TOKEN = "ghp_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa"


def analysed_report(tmp_path, manifest_text: str) -> dict:  # type: ignore[type-arg]
    """A real gap report of a BMAD 6.4 repository whose team added its own MCP server
    (with a literal token) and subagent, against `manifest_text`."""
    from provisioning.engine.manifest import load_manifest
    from provisioning.engine.pipeline import analyze_repo, report_to_dict
    from tests.provisioning.engine.builders import build_v64, write_file

    root = tmp_path / "checkout"
    build_v64(root, tools=("claude-code",))
    team = {"mcpServers": {"linear": {"command": "linear-mcp", "env": {"LINEAR_KEY": TEAM_TOKEN}}}}
    write_file(root, ".mcp.json", json.dumps(team, indent=2) + "\n")
    write_file(root, ".claude/agents/team-helper.md", "---\nname: team-helper\n---\nHelp.\n")
    manifest = load_manifest(manifest_text).manifest
    assert manifest is not None
    return report_to_dict(analyze_repo(root, manifest).report)


def test_subagents_and_mcp_servers_are_listed_declared_and_present(
    skills_project, owner, as_owner, tmp_path
):
    project_services.manifest_save(actor=owner, project=skills_project, yaml_text=MCP_MANIFEST)
    before = {
        (s["kind"], s["id"]): s for s in as_owner.get("/projects/healthai/skills").json()["skills"]
    }
    assert before["mcp-server", "github"]["state"] == "not-analysed"
    assert before["mcp-server", "github"]["allowed"] is True
    assert before["subagent", "security-reviewer"]["declared"] is True
    assert before["leader", "dev-leader"]["allowed"] is None
    Run.objects.create(
        project=skills_project,
        kind=RunKind.ANALYZE,
        status=RunStatus.SUCCEEDED,
        actor=owner,
        report=analysed_report(tmp_path, MCP_MANIFEST),
    )
    body = as_owner.get("/projects/healthai/skills").json()
    rows = {(s["kind"], s["id"]): s for s in body["skills"]}
    assert rows["mcp-server", "github"] | {"paths": None} == {
        "id": "github",
        "kind": "mcp-server",
        "declared": True,
        "installed": False,
        "state": "missing",
        "paths": None,
        "allowed": True,
    }
    linear = rows["mcp-server", "linear"]
    assert (linear["declared"], linear["installed"], linear["allowed"]) == (False, True, False)
    assert linear["state"] == "unmanaged"
    assert linear["paths"] == [".mcp.json"]
    assert rows["subagent", "security-reviewer"]["state"] == "missing"
    helper = rows["subagent", "team-helper"]
    assert (helper["declared"], helper["installed"], helper["state"]) == (False, True, "unmanaged")
    assert helper["paths"] == [".claude/agents/team-helper.md"]
    report = as_owner.get("/projects/healthai/report").json()
    assert report["tooling"]["mcp_servers_closed"] is True
    assert [s["name"] for s in report["tooling"]["mcp_servers"]] == ["github", "linear"]
    codes = {f["code"] for f in report["findings"]}
    assert {"MCP_SECRET_COMMITTED", "MCP_SERVER_NOT_ALLOWED"} <= codes
    assert TEAM_TOKEN not in json.dumps(report)


def test_a_report_from_before_subagents_has_no_tooling(skills_project, owner, as_owner):
    Run.objects.create(
        project=skills_project,
        kind=RunKind.ANALYZE,
        status=RunStatus.SUCCEEDED,
        actor=owner,
        report={"items": []},
    )
    assert as_owner.get("/projects/healthai/report").json()["tooling"] is None
