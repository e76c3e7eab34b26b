"""`bmadweb upgrade` with BMAD's REAL installer: a team on 6.0.4 with customized agents
upgrades to 6.12.0 (docs/bmad.md#upgrade).

The 6.0.4 install is made by the official installer at test time (tests/realbmad.py);
the upgrade starts the installer again through bmadweb's installer door, in its sandbox
(its own npm cache: the package is fetched from the registry). The test ends where a
team would: `bmadweb analyze` says in sync, and BMAD 6.12's own resolver returns the
team's values. Skips without npx (fails with BMADWEB_REQUIRE_ALL=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import realbmad
from tests.provisioning.engine.builders import edit_file, write_file
from tests.repos import git

pytestmark = pytest.mark.npx

SCRIPT = Path(sys.executable).parent / "bmadweb"
MANIFEST = """\
apiVersion: bmadweb/v1
project:
  name: legacy-team
  bmad_version: ">=6.4,<7"
  modules: [core, bmm]
  tools: [claude-code, cursor]
leaders:
  - id: dev-leader
    name: Dev Leader
    domain: engineering
    phase: implementation
    description: Routes engineering requests to the right specialist.
    specialists:
      - id: frontend-specialist
        name: Frontend Specialist
        domain: frontend
        skills: [react, accessibility]
customizations:
  bmad-agent-dev:
    principles: ["Red, green, refactor."]
    persistent_facts: ["file:{project-root}/docs/standards/*.md"]
"""
PM_YAML = """\
agent:
  metadata:
    name: ""
persona:
  role: "Team PM for a regulated health product"
  identity: ""
  communication_style: "Short sentences, numbers first."
  principles:
    - PRDs fit on one page.
critical_actions: []
memories:
  - "Our releases ship every second Tuesday."
menu:
  - trigger: RISK
    description: Write the risk register for a feature
    exec: "{project-root}/docs/risk-register.md"
prompts: []
"""
ARCHITECT_YAML = """\
persona:
  role: ""
  principles: []
critical_actions:
  - "Load {project-root}/docs/architecture-rules.md before answering."
memories: []
menu: []
"""
DEV_YAML = 'persona:\n  role: "Dev who writes the test first"\n'


def bmadweb(cwd: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def resolved(root: Path, skill: str) -> dict[str, Any]:
    """What BMAD's own resolver makes of the skill's customization layers."""
    done = subprocess.run(
        [
            sys.executable,
            str(root / "_bmad/scripts/resolve_customization.py"),
            "--skill",
            str(root / ".claude/skills" / skill),
            "--project-root",
            str(root),
            "--key",
            "agent",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data.get("agent", data)


@pytest.fixture
def team_on_604(tmp_path: Path) -> Path:
    """A team's clone of a real 6.0.4 install: three customized agents, a hand edit to an
    installer workflow, everything committed."""
    root = realbmad.copy_of(realbmad.install("6.0.4"), tmp_path / "team-repo")
    write_file(root, "_bmad/_config/agents/bmm-pm.customize.yaml", PM_YAML)
    write_file(root, "_bmad/_config/agents/bmm-architect.customize.yaml", ARCHITECT_YAML)
    write_file(root, "_bmad/_config/agents/bmm-dev.customize.yaml", DEV_YAML)
    edit_file(
        root,
        "_bmad/bmm/workflows/2-plan-workflows/create-prd/workflow-create-prd.md",
        "\n<!-- team: every PRD links the risk register -->\n",
    )
    (root / "bmadweb.yaml").write_text(MANIFEST, encoding="utf-8")
    git("init", "--quiet", "--initial-branch", "main", cwd=root)
    git("add", "--all", cwd=root)
    git("commit", "--quiet", "--message", "BMAD 6.0.4, customized", cwd=root)
    return root


def test_604_team_upgrades_to_612_and_bmad_reads_its_customizations(team_on_604: Path) -> None:
    root = team_on_604
    before = bmadweb(root, "analyze", "--manifest", "bmadweb.yaml", "--format", "json")
    assert before[0] == 1  # 6.0.4 is out of the manifest's range: drift

    code, out, err = bmadweb(
        root, "upgrade", "--to", "6.12.0", "--manifest", "bmadweb.yaml", "--format", "json"
    )
    if code == 2 and "the BMAD installer" in err:
        realbmad.unavailable(f"the 6.12.0 installer did not run: {err.strip()[-300:]}")
    assert code == 0, out[-3000:] + err[-3000:]
    data = json.loads(out)
    upgrade = data["upgrade"]
    assert (upgrade["from"], upgrade["to"]) == ("6.0.4", "6.12.0")
    folders = {f["folder"]: f for f in upgrade["installer"]["folders"]}
    assert folders[".claude/skills"]["added"] > 100
    migrated = {a["source"].rsplit("/", 1)[-1]: a for a in upgrade["migrated"]["agents"]}
    assert migrated["bmm-pm.customize.yaml"]["target"] == "_bmad/custom/bmad-agent-pm.toml"
    assert migrated["bmm-architect.customize.yaml"]["skill"] == "bmad-agent-architect"
    assert all(a["removed"] for a in migrated.values())  # ten YAML files, none left
    assert len(migrated) == 10
    (rescued,) = upgrade["rescued"]  # the hand edit: saved, its file is gone in 6.12
    assert rescued["path"].endswith("workflow-create-prd.md")
    assert "team: every PRD links the risk register" in (root / rescued["patch"]).read_text()

    # The wrappers and the YAML files are gone; nothing was committed.
    assert not list((root / ".claude/commands").glob("bmad-*.md"))
    assert not list((root / ".cursor/commands").glob("bmad-*.md"))
    assert not list((root / "_bmad/_config/agents").glob("*.customize.yaml"))
    assert git("log", "--format=%s", cwd=root).splitlines() == ["BMAD 6.0.4, customized"]

    code, out, err = bmadweb(root, "analyze", "--manifest", "bmadweb.yaml", "--format", "json")
    report = json.loads(out)
    assert code == 0, [f["code"] for f in report["findings"]]
    assert report["status"] == "in_sync"
    assert report["bmad"]["version"] == "6.12.0"

    pm = resolved(root, "bmad-agent-pm")
    assert pm["name"] == "John"  # BMAD's own agent…
    assert pm["role"] == "Team PM for a regulated health product"  # …with the team's persona
    assert pm["communication_style"] == "Short sentences, numbers first."
    assert pm["principles"][-1] == "PRDs fit on one page."
    assert "Our releases ship every second Tuesday." in pm["persistent_facts"]
    menu = {item["code"]: item for item in pm["menu"]}
    assert "PRD" in menu  # BMAD's items stay
    assert menu["RISK"]["prompt"] == "Read fully and follow {project-root}/docs/risk-register.md."
    architect = resolved(root, "bmad-agent-architect")
    assert architect["activation_steps_prepend"] == [
        "Load {project-root}/docs/architecture-rules.md before answering."
    ]
    dev = resolved(root, "bmad-agent-dev")
    assert dev["role"] == "Dev who writes the test first"  # migrated…
    assert "file:{project-root}/docs/standards/*.md" in dev["persistent_facts"]  # …+ manifest
    assert dev["principles"][-1] == "Red, green, refactor."
