"""Skills through the API: the declared ones before any analysis, then the state of their
files from the latest report."""

from __future__ import annotations

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
