"""6.0-style `*.customize.yaml` files move into 6.4+ overrides (docs/bmad.md#migration)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from provisioning.demo.bmad_installs import DEMO_MANIFEST
from provisioning.engine.detect import detect_install
from provisioning.engine.manifest import Manifest, load_manifest
from provisioning.engine.migrate import map_customization, plan_migration, target_skill
from provisioning.engine.pipeline import analyze_repo, plan_cleanup, plan_repo
from provisioning.engine.plan import OpKind, Plan, apply_plan
from tests.provisioning.engine.builders import (
    add_orphaned_customize_yaml,
    build_v60,
    build_v64,
    write_file,
)

PM_YAML = "_bmad/_config/agents/bmm-pm.customize.yaml"
ARCHITECT_YAML = "_bmad/_config/agents/bmm-architect.customize.yaml"
ARCHITECT_TOML = "_bmad/custom/bmad-agent-architect.toml"
RICH_YAML = """\
agent:
  metadata:
    name: "Archie"
    icon: "🏛"
persona:
  role: Team architect
  identity: ""
  communication_style: Terse.
  principles: |
    - Boring technology first.
    - Small diffs.
critical_actions:
  - Load {project-root}/docs/arch-rules.md
memories: ["We deploy on AWS only."]
menu:
  - trigger: ADR
    description: Write an ADR
    exec: "{project-root}/docs/adr-template.md"
  - trigger: "*RV"
    description: Review against our rules
    action: "#review"
  - trigger: NOPE
    description: Points at a prompt that does not exist
    action: "#missing"
prompts:
  - id: review
    content: Review the architecture document against docs/arch-rules.md.
"""


def upgraded(root: Path) -> Path:
    """A repository upgraded from 6.0.4 to 6.12.0 (leftovers of 6.0 beside 6.4+)."""
    build_v60(root)
    build_v64(root)
    return root


def toml_of(root: Path, rel: str) -> dict[str, Any]:
    return tomllib.loads((root / rel).read_text())


def kinds(plan: Plan) -> dict[str, OpKind]:
    return {op.path: op.kind for op in plan.operations}


def demo() -> Manifest:
    manifest = load_manifest(DEMO_MANIFEST).manifest
    assert manifest is not None
    return manifest


def test_every_6_0_key_lands_on_the_key_bmad_6_4_reads(tmp_path: Path) -> None:
    root = upgraded(tmp_path)
    write_file(root, ARCHITECT_YAML, RICH_YAML)
    migration = plan_migration(root, detect_install(root))
    before, after = migration.writes[ARCHITECT_TOML]
    assert before is None
    agent = tomllib.loads(after)["agent"]
    assert agent["role"] == "Team architect"
    assert agent["communication_style"] == "Terse."
    assert "identity" not in agent  # empty in the YAML: no change
    assert agent["icon"] == "🏛"
    assert agent["principles"] == ["Boring technology first.", "Small diffs."]
    assert agent["activation_steps_prepend"] == ["Load {project-root}/docs/arch-rules.md"]
    assert agent["persistent_facts"] == ["We deploy on AWS only."]
    menu = {item["code"]: item for item in agent["menu"]}
    assert menu["ADR"]["prompt"] == "Read fully and follow {project-root}/docs/adr-template.md."
    assert menu["RV"]["prompt"] == "Review the architecture document against docs/arch-rules.md."
    assert set(menu) == {"ADR", "RV"}  # an item with nothing to run is named, not written
    (agent_record,) = [a for a in migration.agents if a.source == ARCHITECT_YAML]
    assert agent_record.skill == "bmad-agent-architect"
    assert any("Archie" in d for d in agent_record.dropped)  # names are not overridable
    assert any("NOPE" in d for d in agent_record.dropped)
    assert "Not carried over" in after  # and the new file says so
    assert ARCHITECT_YAML in migration.deletes


def test_plan_moves_customizations_deletes_yaml_and_wrappers_and_is_then_clean(
    tmp_path: Path,
) -> None:
    root = upgraded(tmp_path)
    customized, template = add_orphaned_customize_yaml(root)
    analysis, plan = plan_cleanup(root)
    planned = kinds(plan)
    assert planned["_bmad/custom/bmad-agent-pm.toml"] is OpKind.CREATE
    assert planned[customized] is OpKind.DELETE
    assert planned[template] is OpKind.DELETE  # an empty template carries nothing
    assert planned[".claude/commands/bmad-agent-bmm-pm.md"] is OpKind.DELETE
    assert plan.requires_approval
    assert "_bmad/custom/bmadweb.lock.json" not in planned  # no manifest: no lock
    orphaned = [f for f in analysis.report.findings if f.code == "BMAD_ORPHANED_CUSTOMIZE_YAML"]
    assert orphaned[0].fixable
    apply_plan(root, plan)
    assert toml_of(root, "_bmad/custom/bmad-agent-pm.toml")["agent"] == {
        "role": "Team PM",
        "principles": ["Short PRDs."],
    }
    again_analysis, again = plan_cleanup(root)
    assert again.changes == ()
    codes = {f.code for f in again_analysis.report.findings}
    assert not codes & {"BMAD_ORPHANED_CUSTOMIZE_YAML", "BMAD_STALE_COMMAND_WRAPPERS"}


def test_existing_override_is_merged_not_replaced(tmp_path: Path) -> None:
    root = upgraded(tmp_path)
    write_file(root, ARCHITECT_YAML, RICH_YAML)
    write_file(
        root,
        ARCHITECT_TOML,
        "# our own notes stay\n[agent]\n"
        'role = "Set in TOML already"\nprinciples = ["Small diffs.", "Write it down."]\n'
        '\n[[agent.menu]]\ncode = "ADR"\ndescription = "Our ADR flow"\nskill = "bmad-adr"\n',
    )
    migration = plan_migration(root, detect_install(root))
    before, after = migration.writes[ARCHITECT_TOML]
    assert before is not None
    assert after.startswith("# our own notes stay")
    agent = tomllib.loads(after)["agent"]
    assert agent["role"] == "Set in TOML already"  # what BMAD 6.4+ applied stays
    assert agent["principles"] == ["Small diffs.", "Write it down.", "Boring technology first."]
    menu = {item["code"]: item for item in agent["menu"]}
    assert menu["ADR"]["skill"] == "bmad-adr"  # the existing item wins its code
    assert "RV" in menu
    assert any("role" in n and "already sets" in n for n in migration.notes)


def test_keys_the_manifest_sets_stay_the_manifests_and_are_named(tmp_path: Path) -> None:
    root = upgraded(tmp_path)
    add_orphaned_customize_yaml(root)  # role "Team PM", principles ["Short PRDs."]
    _analysis, plan = plan_repo(root, demo(), manifest_revision="r1")
    (op,) = [op for op in plan.operations if op.path == "_bmad/custom/bmad-agent-pm.toml"]
    assert op.kind is OpKind.CREATE
    assert op.diff.startswith("--- /dev/null")  # shown against the repository, once
    apply_plan(root, plan)
    agent = toml_of(root, "_bmad/custom/bmad-agent-pm.toml")["agent"]
    assert agent["role"] == "Team PM"  # from the YAML
    assert agent["principles"] == ["Prefer short, bulleted PRDs."]  # the manifest's
    assert any("Short PRDs." in n and "manifest" in n for n in plan.notes)
    after = analyze_repo(root, demo()).report
    assert after.in_sync
    assert "BMAD_ORPHANED_CUSTOMIZE_YAML" not in {f.code for f in after.findings}
    _, again = plan_repo(root, demo(), manifest_revision="r1")
    assert again.changes == ()


def test_agent_bmad_dropped_keeps_its_yaml_and_says_so(tmp_path: Path) -> None:
    root = upgraded(tmp_path)
    write_file(root, "_bmad/_config/agents/bmm-sm.customize.yaml", "memories: [Two-week sprints]\n")
    analysis, plan = plan_cleanup(root)
    assert "_bmad/_config/agents/bmm-sm.customize.yaml" not in kinds(plan)
    assert any("bmm-sm" in note and "no agent skill" in note for note in plan.notes)
    orphaned = [f for f in analysis.report.findings if f.code == "BMAD_ORPHANED_CUSTOMIZE_YAML"]
    assert not orphaned[0].fixable  # the plan does not remove every file it names


def test_yaml_bmadweb_wrote_itself_is_left_to_the_lock(tmp_path: Path) -> None:
    root = upgraded(tmp_path)
    write_file(root, "_bmad/_config/agents/bmad-agent-pm.customize.yaml", "memories: [x]\n")
    managed = {"_bmad/_config/agents/bmad-agent-pm.customize.yaml"}
    migration = plan_migration(root, detect_install(root), managed=managed)
    assert not set(managed) & {*migration.writes, *migration.deletes}
    assert migration.writes == {}  # the 6.0 templates beside it carry nothing


def test_nothing_is_migrated_before_the_upgrade(tmp_path: Path) -> None:
    build_v60(tmp_path)
    add_orphaned_customize_yaml(tmp_path)
    assert plan_migration(tmp_path, detect_install(tmp_path)).empty


def test_hostile_or_broken_files_are_named_never_migrated(tmp_path: Path) -> None:
    root = upgraded(tmp_path)
    write_file(root, PM_YAML, "a: &x [1]\nb: *x\n")
    write_file(root, ARCHITECT_YAML, RICH_YAML)
    write_file(root, ARCHITECT_TOML, "[agent\nbroken")
    (root / "_bmad/_config/agents/bmm-dev.customize.yaml").unlink()
    (root / "_bmad/_config/agents/bmm-dev.customize.yaml").symlink_to("/etc/passwd")
    migration = plan_migration(root, detect_install(root))
    assert migration.writes == {}
    assert not {PM_YAML, ARCHITECT_YAML} & set(migration.deletes)
    notes = " ".join(migration.notes)
    assert "bmm-pm.customize.yaml was not migrated" in notes
    assert "bmm-architect.customize.yaml was not migrated" in notes
    assert "bmm-dev.customize.yaml was not migrated" in notes


def test_values_that_could_escape_toml_stay_plain_strings(tmp_path: Path) -> None:
    root = upgraded(tmp_path)
    write_file(
        root,
        PM_YAML,
        'persona:\n  role: "x\\"\\n[agent]\\nname = \\"Evil\\""\n'
        'agent:\n  metadata:\n    name: "a\\nb = 1"\n',
    )
    migration = plan_migration(root, detect_install(root))
    _, text = migration.writes["_bmad/custom/bmad-agent-pm.toml"]
    data = tomllib.loads(text)
    assert data == {"agent": {"role": 'x"\n[agent]\nname = "Evil"'}}


def test_target_skill_follows_bmads_renames() -> None:
    skills = {"bmad-agent-pm", "bmad-agent-bmm-dev", "bmad-agent-tech-writer"}
    assert target_skill("x/bmm-pm.customize.yaml", skills) == "bmad-agent-pm"
    assert target_skill("x/bmm-dev.customize.yaml", skills) == "bmad-agent-bmm-dev"
    assert target_skill("x/bmm-tech-writer.customize.yaml", skills) == "bmad-agent-tech-writer"
    assert target_skill("x/core-bmad-master.customize.yaml", skills) is None


def test_a_template_maps_to_nothing() -> None:
    template = {
        "agent": {"metadata": {"name": ""}},
        "persona": {"role": "", "identity": "", "communication_style": "", "principles": []},
        "critical_actions": [],
        "memories": [],
        "menu": [],
        "prompts": [],
    }
    mapped = map_customization(template)
    assert (mapped.values, mapped.dropped) == ({}, [])
