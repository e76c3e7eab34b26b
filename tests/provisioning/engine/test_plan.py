"""Plans: the right operation per state, approvals, conflicts never written, safe apply."""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.engine.gap import ItemState, analyze
from provisioning.engine.generator import generate
from provisioning.engine.lockfile import parse_lock
from provisioning.engine.manifest import Manifest
from provisioning.engine.paths import LOCK_PATH, UnsafePathError
from provisioning.engine.pipeline import (
    operation_diff,
    plan_diff,
    plan_record,
    plan_to_dict,
    stored_operations,
)
from provisioning.engine.plan import (
    Operation,
    OpKind,
    Plan,
    apply_plan,
    make_plan,
    unified_diff,
)
from tests.provisioning.engine.builders import build_v64, edit_file, write_file
from tests.provisioning.engine.test_gap import FE_MD, INSTALL, LEADER_MD, manifest, provisioned


def plan_for(root: Path, m: Manifest, *, force: bool = False) -> Plan:
    return make_plan(analyze(root, m, INSTALL), generate(m, INSTALL), force=force)


def ops(plan: Plan) -> dict[str, OpKind]:
    return {op.path: op.kind for op in plan.operations}


def test_fresh_plan_creates_everything_and_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    plan = make_plan(
        analyze(root, manifest(), INSTALL), generate(manifest(), INSTALL), manifest_revision="r1"
    )
    kinds = ops(plan)
    assert kinds[FE_MD] is OpKind.CREATE
    assert kinds["_bmad/custom/config.toml"] is OpKind.UPDATE  # team file edited in place
    assert kinds[LOCK_PATH] is OpKind.CREATE
    assert not plan.requires_approval
    create = next(op for op in plan.operations if op.path == FE_MD)
    assert create.diff.startswith("--- /dev/null\n+++ b/" + FE_MD)
    apply_plan(root, plan)
    lock = parse_lock((root / LOCK_PATH).read_text()).lock
    assert lock.manifest_revision == "r1"
    assert lock.files[FE_MD].base == (root / FE_MD).read_text()


def test_second_plan_after_apply_changes_nothing(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    assert plan_for(root, manifest()).changes == ()


def test_outdated_file_is_updated_but_modified_file_is_kept(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    edit_file(root, FE_MD)
    edited = (root / FE_MD).read_text()
    plan = plan_for(root, manifest("Routes all the work."))
    assert ops(plan)[LEADER_MD] is OpKind.UPDATE
    assert ops(plan)[FE_MD] is OpKind.SKIP
    apply_plan(root, plan)
    assert "Routes all the work." in (root / LEADER_MD).read_text()
    assert (root / FE_MD).read_text() == edited
    after = {
        i.path: i.state for i in analyze(root, manifest("Routes all the work."), INSTALL).items
    }
    assert after[FE_MD] is ItemState.MODIFIED
    assert after[LEADER_MD] is ItemState.UP_TO_DATE


def test_conflict_in_other_lines_is_merged_and_needs_approval(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    edit_file(root, LEADER_MD, "\nTeam note: be kind.\n")
    plan = plan_for(root, manifest("Routes all the work."))
    assert ops(plan)[LEADER_MD] is OpKind.MERGE
    assert plan.requires_approval
    assert plan.conflicts == ()
    apply_plan(root, plan)
    text = (root / LEADER_MD).read_text()
    assert "Team note: be kind." in text
    assert "Routes all the work." in text
    state = {
        i.path: i.state for i in analyze(root, manifest("Routes all the work."), INSTALL).items
    }
    assert state[LEADER_MD] is ItemState.MODIFIED  # the merge keeps the team's edit


def test_unresolved_conflict_is_reported_and_never_written(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    path = root / LEADER_MD
    path.write_text(path.read_text().replace("Routes work.", "Team wording."))
    before = path.read_text()
    plan = plan_for(root, manifest("Generator wording."))
    assert ops(plan)[LEADER_MD] is OpKind.SKIP
    (conflict,) = plan.conflicts
    assert conflict.path == LEADER_MD
    assert conflict.hunks
    apply_plan(root, plan)
    assert path.read_text() == before
    for file in root.rglob("*"):
        if file.is_file():
            assert "<<<<<<<" not in file.read_text(errors="replace")


def test_orphaned_file_is_deleted_only_with_approval(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    plan = plan_for(root, manifest(specialists=1))
    assert ops(plan)[".claude/skills/be/SKILL.md"] is OpKind.DELETE
    assert plan.requires_approval
    result = apply_plan(root, plan)
    assert ".claude/skills/be/SKILL.md" in result.deleted
    assert not (root / ".claude/skills/be/SKILL.md").exists()
    lock = parse_lock((root / LOCK_PATH).read_text()).lock
    assert ".claude/skills/be/SKILL.md" not in lock.files


def test_unmanaged_file_is_never_overwritten_without_force(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    write_file(root, FE_MD, "# ours\n")
    plan = plan_for(root, manifest())
    assert ops(plan)[FE_MD] is OpKind.SKIP
    apply_plan(root, plan)
    assert (root / FE_MD).read_text() == "# ours\n"
    forced = plan_for(root, manifest(), force=True)
    assert ops(forced)[FE_MD] is OpKind.UPDATE
    apply_plan(root, forced)
    assert (root / FE_MD).read_text() != "# ours\n"


def test_unsafe_items_are_skipped_even_with_force(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    (root / FE_MD).unlink()
    os.symlink("/etc/passwd", root / FE_MD)
    plan = plan_for(root, manifest(), force=True)
    assert ops(plan)[FE_MD] is OpKind.SKIP
    apply_plan(root, plan)
    assert (root / FE_MD).is_symlink()


def test_apply_refuses_a_symlinked_folder_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / ".claude").mkdir()
    os.symlink(outside, root / ".claude" / "skills")
    plan = Plan(
        (
            Operation(OpKind.CREATE, "a.md", "r", "first\n"),
            Operation(OpKind.CREATE, ".claude/skills/x/SKILL.md", "r", "x\n"),
        )
    )
    with pytest.raises(UnsafePathError):
        apply_plan(root, plan)
    assert list(outside.iterdir()) == []
    assert not (root / "a.md").exists()


def test_apply_refuses_writing_through_a_symlinked_file(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "d").mkdir(parents=True)
    target = tmp_path / "passwd"
    target.write_text("root:x\n")
    os.symlink(target, root / "d" / "SKILL.md")
    plan = Plan((Operation(OpKind.UPDATE, "d/SKILL.md", "r", "pwned\n"),))
    with pytest.raises(UnsafePathError):
        apply_plan(root, plan)
    assert target.read_text() == "root:x\n"


@pytest.mark.parametrize("rel", ["../x", ".git/hooks/pre-commit", "/tmp/x", "a/.GIT/x"])
def test_apply_refuses_paths_outside_or_under_git(tmp_path: Path, rel: str) -> None:
    plan = Plan((Operation(OpKind.CREATE, rel, "r", "x\n"),))
    with pytest.raises(UnsafePathError):
        apply_plan(tmp_path, plan)


def test_team_agent_registrations_survive_every_run_and_ours_still_leave(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    config = root / "_bmad/custom/config.toml"
    config.write_text('[agents.team-helper]\nname = "Team helper"\n')
    for _ in range(3):  # the lock's last written text holds the team's entry too
        apply_plan(root, plan_for(root, manifest()))
        assert "[agents.team-helper]" in config.read_text()
    assert plan_for(root, manifest()).changes == ()
    apply_plan(root, plan_for(root, manifest(specialists=1)))  # "be" is no longer declared
    text = config.read_text()
    assert "[agents.be]" not in text
    assert "[agents.fe]" in text
    assert "[agents.team-helper]" in text


def test_team_comment_in_config_toml_survives_provisioning_and_updates(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    config = root / "_bmad/custom/config.toml"
    config.write_text("# Keep this team comment\n[core]\nlanguage = 'fr'  # ours\n")
    apply_plan(root, plan_for(root, manifest()))
    text = config.read_text()
    assert "# Keep this team comment" in text
    assert "[agents.fe]" in text
    config.write_text(text.replace("language = 'fr'", "language = 'de'"))
    plan = plan_for(root, manifest(specialists=3))
    assert ops(plan)["_bmad/custom/config.toml"] is OpKind.MERGE
    apply_plan(root, plan)
    final = config.read_text()
    assert "language = 'de'  # ours" in final
    assert "# Keep this team comment" in final
    assert "[agents.ops]" in final
    report = analyze(root, manifest(specialists=3), INSTALL)
    assert {i.path: i.state for i in report.items}["_bmad/custom/config.toml"] in (
        ItemState.UP_TO_DATE,
        ItemState.MODIFIED,
    )


def test_stale_command_wrappers_are_deleted_with_approval(tmp_path: Path) -> None:
    from provisioning.demo.bmad_installs import DEMO_MANIFEST, build_v64
    from provisioning.demo.install_parts import add_stale_command_wrappers
    from provisioning.engine.manifest import load_manifest
    from provisioning.engine.pipeline import plan_repo

    build_v64(tmp_path)
    wrappers = add_stale_command_wrappers(tmp_path, ("claude-code",))
    manifest = load_manifest(DEMO_MANIFEST).manifest
    assert manifest is not None
    _, plan = plan_repo(tmp_path, manifest, manifest_revision="r1")
    deletes = {op.path for op in plan.operations if op.kind is OpKind.DELETE}
    assert deletes == set(wrappers)
    assert plan.requires_approval
    for op in plan.operations:
        if op.kind is OpKind.DELETE:  # the diff shows what goes, not just a header
            removed = (tmp_path / op.path).read_text().splitlines()
            assert [f"-{line}" for line in removed] == op.diff.splitlines()[3:]
    apply_plan(tmp_path, plan)
    assert not any((tmp_path / w).exists() for w in wrappers)
    _, again = plan_repo(tmp_path, manifest, manifest_revision="r1")
    assert not [op for op in again.operations if op.kind is OpKind.DELETE]


def test_every_finding_called_fixable_is_planned(tmp_path: Path) -> None:
    """A finding says "fixable" only if provisioning really deals with it."""
    from provisioning.demo.bmad_installs import DEMO_MANIFEST, build_v4, build_v64
    from provisioning.demo.install_parts import (
        add_orphaned_customize_yaml,
        add_stale_command_wrappers,
        edit_file,
    )
    from provisioning.engine.manifest import load_manifest
    from provisioning.engine.pipeline import plan_repo

    built = build_v64(tmp_path, ignore_user_config=False)
    build_v4(tmp_path)  # a v4 .bmad-core/ beside _bmad/ is reported, not removed
    add_stale_command_wrappers(tmp_path, ("claude-code", "cursor"))
    add_orphaned_customize_yaml(tmp_path)
    if built.sample_skill_file:
        edit_file(tmp_path, built.sample_skill_file)
    manifest = load_manifest(DEMO_MANIFEST).manifest
    assert manifest is not None
    analysis, plan = plan_repo(tmp_path, manifest, manifest_revision="r1")
    planned = {op.path for op in plan.operations}
    codes = {f.code for f in analysis.report.findings}
    assert {"BMAD_LEGACY_V4_LEFTOVER", "BMAD_STALE_COMMAND_WRAPPERS"} <= codes
    fixable = [f for f in analysis.report.findings if f.fixable]
    assert fixable, "the scenario should contain at least one fixable finding"
    for finding in fixable:
        assert finding.paths, finding.code
        assert set(finding.paths) <= planned, finding.code


# --- TOML is merged as TOML (docs/bmad.md#toml-merge) -------------------------------------

LEADER_TOML = ".claude/skills/dev-leader/customize.toml"
CONFIG_TOML = "_bmad/custom/config.toml"


def _after_key(text: str, key: str, line: str) -> str:
    """`text` with `line` inserted right after the line that sets `key`."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, old in enumerate(lines) if old.startswith(f"{key} ="))
    return "".join([*lines[: at + 1], line + "\n", *lines[at + 1 :]])


def _changed_agent_keys(old: Manifest, new: Manifest, path: str, table: str) -> dict[str, Any]:
    """The keys of `table` whose generated value differs between two manifests."""
    before = tomllib.loads(generate(old, INSTALL).by_path()[path].content)[table]
    after = tomllib.loads(generate(new, INSTALL).by_path()[path].content)[table]
    return {k: v for k, v in after.items() if before.get(k) != v}


def test_team_edit_of_a_skill_customize_toml_merges_key_by_key(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    changed = _changed_agent_keys(
        manifest(), manifest("Routes all the work."), LEADER_TOML, "agent"
    )
    assert changed, "the new description should change the generated [agent] table"
    path = root / LEADER_TOML
    key = next(iter(changed))
    team = _after_key(path.read_text(), key, 'team_style = "terse"  # ours')
    path.write_text("# Team: we tuned this agent.\n" + team)
    plan = plan_for(root, manifest("Routes all the work."))
    assert ops(plan)[LEADER_TOML] is OpKind.MERGE
    assert plan.conflicts == ()
    assert plan.requires_approval
    apply_plan(root, plan)
    merged = path.read_text()
    assert merged.startswith("# Team: we tuned this agent.\n")
    assert 'team_style = "terse"  # ours' in merged
    agent = tomllib.loads(merged)["agent"]
    assert {k: agent[k] for k in changed} == changed
    after = analyze(root, manifest("Routes all the work."), INSTALL)
    assert {i.path: i.state for i in after.items}[LEADER_TOML] is ItemState.MODIFIED


def test_a_key_both_sides_changed_is_a_conflict_with_its_key_path(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    changed = _changed_agent_keys(
        manifest(), manifest("Routes all the work."), LEADER_TOML, "agent"
    )
    key = next(k for k, v in changed.items() if isinstance(v, str))
    path = root / LEADER_TOML
    lines = [
        f"{key} = {json.dumps('Team wording.')}" if line.startswith(f"{key} =") else line
        for line in path.read_text().splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")
    before = path.read_text()
    plan = plan_for(root, manifest("Routes all the work."))
    assert ops(plan)[LEADER_TOML] is OpKind.SKIP
    (conflict,) = (c for c in plan.conflicts if c.path == LEADER_TOML)
    assert conflict.keys == (f"agent.{key}",)
    assert f"agent.{key}" in conflict.reason
    assert {"path": LEADER_TOML, "reason": conflict.reason, "keys": [f"agent.{key}"]} in (
        plan_to_dict(plan)["conflicts"]
    )
    apply_plan(root, plan)
    assert path.read_text() == before
    assert "<<<<<<<" not in before


def test_the_same_change_on_both_sides_needs_no_write(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    new = manifest("Routes all the work.")
    path = root / LEADER_TOML
    wanted = generate(new, INSTALL).by_path()[LEADER_TOML].content
    path.write_text("# Team: already done by hand.\n" + wanted)
    plan = plan_for(root, new)
    assert LEADER_TOML not in {op.path for op in plan.changes}
    assert LEADER_TOML not in {c.path for c in plan.conflicts}
    apply_plan(root, plan)
    lock = parse_lock((root / LOCK_PATH).read_text()).lock
    assert lock.files[LEADER_TOML].base == wanted


def test_team_keys_in_config_toml_next_to_bmadweb_keys_merge(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    path = root / CONFIG_TOML
    path.write_text(_after_key(path.read_text(), "description", 'team_note = "platform"  # ours'))
    plan = plan_for(root, manifest("Routes all the work."))
    assert ops(plan)[CONFIG_TOML] is OpKind.MERGE
    apply_plan(root, plan)
    agent = tomllib.loads(path.read_text())["agents"]["dev-leader"]
    assert agent["description"].startswith("Routes all the work. Use when")
    assert 'team_note = "platform"  # ours' in path.read_text()


def test_config_toml_key_both_sides_changed_is_reported_not_written(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    path = root / CONFIG_TOML
    path.write_text(path.read_text().replace('"Routes work. Use when', '"Our own words. Use when'))
    before = path.read_text()
    plan = plan_for(root, manifest("Routes all the work."))
    (conflict,) = plan.conflicts
    assert conflict.keys == ("agents.dev-leader.description",)
    apply_plan(root, plan)
    assert path.read_text() == before


_TEXTS = st.text(alphabet=st.sampled_from(["a", "b", " ", "\n", "\r", "\x0c", "é"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS, created=st.booleans(), absent=st.booleans())
def test_diffs_of_created_and_deleted_files_are_difflibs(
    text: str, created: bool, absent: bool
) -> None:
    """The one-sided fast path prints exactly what difflib does (headers, ranges, the
    "No newline" marker), for a missing side given as None or as empty text."""
    empty = None if absent else ""
    old, new = (empty, text) if created else (text, empty)
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        (new or "").splitlines(keepends=True),
        fromfile="a/x.md" if old is not None else "/dev/null",
        tofile="b/x.md" if new is not None else "/dev/null",
    )
    expected = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    assert unified_diff("x.md", old, new) == expected


def test_diffs_are_computed_when_asked_and_stored_once(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    edit_file(root, FE_MD)
    plan = plan_for(root, manifest("Routes all the work."))
    data = plan_to_dict(plan)
    changed = [op for op in plan.operations if op.kind is not OpKind.SKIP]
    assert [op["diff"] for op in data["operations"] if op["action"] != "skip"] == [
        op.diff for op in changed
    ]
    assert plan_diff(data) == plan_diff(plan)
    assert all(op["diff"] == "" for op in plan_to_dict(plan, diffs=False)["operations"])


def test_a_run_stores_each_diff_once_in_the_patch(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    edit_file(root, FE_MD)
    plan = plan_for(root, manifest("Routes all the work."))
    data, patch = plan_record(plan)
    assert patch == plan_diff(plan)
    assert all("diff" not in op for op in data["operations"])
    for op, stored in zip(plan.operations, data["operations"], strict=True):
        assert operation_diff(stored, patch) == op.diff
    expected = plan_to_dict(plan)["operations"]
    assert stored_operations(data, patch) == expected
    # A plan stored before the patch held the only copy still shows its diffs.
    assert stored_operations(plan_to_dict(plan), "") == expected


def test_team_keys_in_an_override_survive_later_plans(tmp_path: Path) -> None:
    """A team's own `role` next to the manifest's keys is not taken for a key bmadweb
    wrote (and later removed as stale): the lock records bmadweb's keys alone."""
    from provisioning.demo.bmad_installs import DEMO_MANIFEST
    from provisioning.engine.manifest import load_manifest
    from provisioning.engine.pipeline import analyze_repo, plan_repo

    demo = load_manifest(DEMO_MANIFEST).manifest
    assert demo is not None
    build_v64(tmp_path)
    override = "_bmad/custom/bmad-agent-pm.toml"
    write_file(tmp_path, override, '# ours\n[agent]\nrole = "Team PM"\n')
    for _ in range(2):
        _, plan = plan_repo(tmp_path, demo, manifest_revision="r1")
        apply_plan(tmp_path, plan)
    agent = tomllib.loads((tmp_path / override).read_text())["agent"]
    assert agent["role"] == "Team PM"
    assert agent["principles"] == ["Prefer short, bulleted PRDs."]
    states = {i.path: i.state for i in analyze_repo(tmp_path, demo).report.items}
    assert states[override] is ItemState.UP_TO_DATE


def test_a_lock_written_before_keeps_the_team_keys_too(tmp_path: Path) -> None:
    """A lock from before bmadweb recorded its own keys alone holds the whole file as
    base; its team keys are still not removed as stale (docs/decisions.md#d42)."""
    from provisioning.demo.bmad_installs import DEMO_MANIFEST
    from provisioning.engine.lockfile import Lock, LockEntry, dumps_lock, text_sha256
    from provisioning.engine.manifest import load_manifest
    from provisioning.engine.pipeline import plan_repo

    demo = load_manifest(DEMO_MANIFEST).manifest
    assert demo is not None
    build_v64(tmp_path)
    override = "_bmad/custom/bmad-agent-pm.toml"
    old = (
        '[agent]\nrole = "Team PM"\npersistent_facts = ["file:{project-root}/docs/standards/*.md"]'
        '\nprinciples = ["Prefer short, bulleted PRDs."]\n'
    )
    write_file(tmp_path, override, old)
    lock = Lock("1.0.0", "r0", {override: LockEntry(text_sha256(old), old)})
    write_file(tmp_path, LOCK_PATH, dumps_lock(lock))
    _, plan = plan_repo(tmp_path, demo, manifest_revision="r1")
    apply_plan(tmp_path, plan)
    assert tomllib.loads((tmp_path / override).read_text())["agent"]["role"] == "Team PM"
