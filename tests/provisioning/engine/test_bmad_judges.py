"""BMAD judges what bmadweb writes (docs/bmad.md#bmad-judges).

On a real 6.12.0 install made by the official installer, the demo manifest is planned and
applied; then BMAD's own tools decide: `tools/validate_skills.py` from the npm package on
every generated skill, `_bmad/scripts/resolve_customization.py` from the install on a
generated agent with a team override, and `_bmad/scripts/resolve_config.py` on the agent
roster (what party mode and `bmad-help` read).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provisioning.demo.bmad_installs import DEMO_MANIFEST
from provisioning.engine.gap import ItemState
from provisioning.engine.manifest import load_manifest
from provisioning.engine.pipeline import plan_repo
from provisioning.engine.plan import OpKind, apply_plan
from provisioning.engine.templates.skills import DESCRIPTION_MAX
from tests import realbmad

pytestmark = pytest.mark.npx

VERSION = "6.12.0"
AGENTS = ("dev-leader", "frontend-specialist", "qa-leader", "hipaa-reviewer")
# Custom ids stay outside BMAD's `bmad-` namespace on purpose (docs/decisions.md#d32), so
# the naming rule is the one finding BMAD's validator may report on them.
ACCEPTED_RULES = {"SKILL-04"}


def _python(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = realbmad.copy_of(realbmad.install(VERSION), tmp_path_factory.mktemp("judged") / "r")
    manifest = load_manifest(DEMO_MANIFEST).manifest
    assert manifest is not None
    _, plan = plan_repo(root, manifest, manifest_revision="judges")
    apply_plan(root, plan)
    return root


def _resolve(root: Path, skill: str, key: str = "agent") -> dict[str, Any]:
    script = root / "_bmad" / "scripts" / "resolve_customization.py"
    skill_root = root / ".claude" / "skills" / skill
    done = _python(script, "--skill", skill_root, "--project-root", root, "--key", key)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data.get(key, data)


def test_bmad_validator_finds_nothing_serious_in_any_generated_skill(provisioned: Path) -> None:
    validator = realbmad.package(VERSION) / "tools" / "validate_skills.py"
    checked = 0
    for folder in (".claude/skills", ".agents/skills"):
        for agent in AGENTS:
            skill_dir = provisioned / folder / agent
            assert (skill_dir / "SKILL.md").is_file(), skill_dir
            done = _python(validator, "--json", skill_dir, cwd=provisioned)
            findings = json.loads(done.stdout)
            serious = [
                (f["rule"], f["detail"])
                for f in findings
                if f["severity"] in ("CRITICAL", "HIGH", "MEDIUM")
                and f["rule"] not in ACCEPTED_RULES
            ]
            assert serious == [], f"{folder}/{agent}"
            checked += 1
    assert checked == 2 * len(AGENTS)


def test_bmad_validator_does_flag_a_skill_without_use_when(
    provisioned: Path, tmp_path: Path
) -> None:
    """Control: the validator run above would see a real defect."""
    validator = realbmad.package(VERSION) / "tools" / "validate_skills.py"
    broken = tmp_path / "bad-skill"
    broken.mkdir()
    (broken / "SKILL.md").write_text(
        "---\nname: bad-skill\ndescription: Does things.\n---\n\nBody.\n"
    )
    findings = json.loads(_python(validator, "--json", broken).stdout)
    assert ("SKILL-06", "MEDIUM") in {(f["rule"], f["severity"]) for f in findings}


def test_bmad_resolver_reads_the_generated_agent_and_the_team_override(provisioned: Path) -> None:
    custom = provisioned / "_bmad" / "custom" / "dev-leader.toml"
    custom.write_text(
        "[agent]\n"
        'principles = ["Team rule: ship in small steps."]\n'
        'icon = "🚀"\n'
        "\n[[agent.menu]]\n"
        'code = "S1"\n'
        'description = "Our own hand-over to the frontend"\n'
        'skill = "frontend-specialist"\n'
    )
    try:
        agent = _resolve(provisioned, "dev-leader")
    finally:
        custom.unlink()
    assert agent["name"] == "Dev Leader"
    assert agent["title"] == "engineering leader"
    assert agent["icon"] == "🚀"  # the team's scalar wins
    assert agent["principles"][-1] == "Team rule: ship in small steps."  # arrays append
    assert len(agent["principles"]) > 1  # ours are still there
    menu = {item["code"]: item for item in agent["menu"]}
    assert menu["S1"]["description"] == "Our own hand-over to the frontend"  # keyed replace
    assert menu["S1"]["skill"] == "frontend-specialist"
    assert len(agent["menu"]) == 1  # replaced in place, not appended


def test_bmad_resolver_sees_the_manifest_customization_of_a_bmad_agent(provisioned: Path) -> None:
    agent = _resolve(provisioned, "bmad-agent-pm")
    assert agent["name"] == "John"  # BMAD's own base
    assert "Prefer short, bulleted PRDs." in agent["principles"]  # the manifest's, appended
    assert "file:{project-root}/docs/standards/*.md" in agent["persistent_facts"]


def test_roster_carries_every_field_bmad_writes_for_its_own_agents(provisioned: Path) -> None:
    script = provisioned / "_bmad" / "scripts" / "resolve_config.py"
    done = _python(script, "--project-root", provisioned, "--key", "agents")
    assert done.returncode == 0, done.stderr
    roster: dict[str, dict[str, str]] = json.loads(done.stdout)["agents"]
    bmad_fields = set(roster["bmad-agent-pm"])  # what the installer wrote for its own
    assert {"module", "team", "name", "title", "icon", "description"} <= bmad_fields
    for agent in AGENTS:
        entry = roster[agent]
        assert set(entry) >= bmad_fields, agent
        assert entry["module"] == "bmadweb"
        assert "Use when" in entry["description"]
        assert len(entry["description"]) <= DESCRIPTION_MAX
    assert roster["frontend-specialist"]["team"] == "dev-leader"
    assert roster["hipaa-reviewer"]["team"] == "qa-leader"
    # The installer's own template is kept byte for byte: the agents are appended to it
    # (engine/tomledit.py), and BMAD's resolver above read them from there.
    template = (realbmad.install(VERSION) / "_bmad/custom/config.toml").read_text()
    written = (provisioned / "_bmad/custom/config.toml").read_text()
    assert template.strip()
    assert written.startswith(template)


def _activation_steps(skill_md: str) -> list[str]:
    steps = skill_md.split("## On Activation", 1)[1]
    return [line for line in steps.splitlines() if line.startswith("### Step ")]


def test_generated_agents_activate_in_the_same_steps_as_bmads_own(provisioned: Path) -> None:
    bmad_pm = (provisioned / ".claude/skills/bmad-agent-pm/SKILL.md").read_text()
    expected = _activation_steps(bmad_pm)
    assert len(expected) >= 6  # the real agent's steps were found
    for agent in AGENTS:
        ours = (provisioned / ".claude/skills" / agent / "SKILL.md").read_text()
        assert _activation_steps(ours) == expected, agent
        assert "_bmad/scripts/resolve_customization.py --skill {skill-root}" in ours


def test_bmad_update_keeps_everything_bmadweb_wrote(tmp_path: Path) -> None:
    """6.11.0, provisioned, then updated to 6.12.0 by the official installer: the
    generated skills, the overrides and the roster survive, and the repository is still
    in sync with the manifest (D33)."""
    from provisioning.engine.pipeline import analyze_repo

    root = realbmad.copy_of(realbmad.install("6.11.0"), tmp_path / "r")
    manifest = load_manifest(DEMO_MANIFEST).manifest
    assert manifest is not None
    _, plan = plan_repo(root, manifest, manifest_revision="before-update")
    apply_plan(root, plan)
    written = {
        op.path: (root / op.path).read_bytes()
        for op in plan.operations
        if op.kind in (OpKind.CREATE, OpKind.UPDATE)
    }
    assert any(p.startswith(".claude/skills/dev-leader/") for p in written)
    flags = [*realbmad.V6_FLAGS, "--action", "update"]
    done = subprocess.run(
        ["npx", "-y", "bmad-method@6.12.0", "install", "--directory", str(root), *flags],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=realbmad.TIMEOUT_S,
        env=realbmad.npm_env(),
        check=False,
    )
    if done.returncode != 0:
        realbmad.unavailable(f"the 6.12.0 update failed: {done.stderr.strip()[-300:]}")
    changed = [p for p, data in written.items() if (root / p).read_bytes() != data]
    # The installer regenerates nothing of ours; config.toml under _bmad/ is its own.
    assert changed == []
    report = analyze_repo(root, manifest).report
    assert report.install.version == "6.12.0"
    assert [i.path for i in report.items if i.state is not ItemState.UP_TO_DATE] == []
