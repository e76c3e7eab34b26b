"""An upgrade of one tree (docs/bmad.md#upgrade): the installer is asked for exactly what the
install holds, its changes are counted per folder, and bmadweb's plan on top migrates
6.0-style customizations, applies the manifest and offers the team's hand edits again.

The installer here is a stand-in that rewrites the tree with the fixture builders, as
the official installer would; tests/provisioning/cli/test_upgrade_real.py and
tests/provisioning/runs/test_upgrade_real.py run the real one."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.demo.bmad_installs import DEMO_MANIFEST
from provisioning.engine.detect import detect_install
from provisioning.engine.manifest import load_manifest
from provisioning.engine.pipeline import analyze_repo
from provisioning.engine.plan import OpKind, apply_plan
from provisioning.engine.rescue import RESCUE_DIR
from provisioning.engine.upgrade import (
    InstallRequest,
    TreeChanges,
    UpgradeRefused,
    check_target,
    folder_of,
    upgrade_tree,
)
from tests.provisioning.engine.builders import (
    add_orphaned_customize_yaml,
    build_v4,
    build_v60,
    build_v64,
    edit_file,
    write_file,
)

PM_SKILL = ".claude/skills/bmad-agent-pm/SKILL.md"


class FakeInstaller:
    """Records each request; an update lays a 6.4+ install of the requested version over
    the tree (as the official installer does, leaving 6.0 files behind), a fresh install
    makes the requested version from nothing."""

    def __init__(self, *, new_pm_text: str | None = None, fail_fresh: bool = False) -> None:
        self.requests: list[InstallRequest] = []
        self.new_pm_text = new_pm_text
        self.fail_fresh = fail_fresh

    def __call__(self, request: InstallRequest) -> str:
        self.requests.append(request)
        if request.action is None and self.fail_fresh:
            raise RuntimeError("npm error 404")
        build_v64(request.directory, version=request.version, tools=request.tools)
        if request.action == "update" and self.new_pm_text is not None:
            for folder in (".claude/skills", ".agents/skills"):
                write_file(request.directory, f"{folder}/bmad-agent-pm/SKILL.md", self.new_pm_text)
        return "✔ done"


def manifest():  # type: ignore[no-untyped-def]
    parsed = load_manifest(DEMO_MANIFEST).manifest
    assert parsed is not None
    return parsed


def test_6_0_upgrade_asks_the_installer_for_what_is_installed_and_migrates(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    build_v60(root)
    add_orphaned_customize_yaml(root)
    installer = FakeInstaller()
    upgrade = upgrade_tree(root, target="6.12.0", install=installer, scratch=tmp_path / "s")
    (request,) = installer.requests  # nothing edited by hand: no earlier install needed
    assert request == InstallRequest(
        root, "6.12.0", ("core", "bmm"), ("claude-code", "cursor"), "update"
    )
    summary = upgrade.summary()
    assert (summary["from"], summary["to"]) == ("6.0.4", "6.12.0")
    folders = {f["folder"]: f for f in summary["installer"]["folders"]}
    assert folders[".claude/skills"]["added"] > 0
    assert summary["installer"]["added"] == len(upgrade.installer_changes.added)
    planned = {op.path: op.kind for op in upgrade.plan.operations}
    assert planned["_bmad/custom/bmad-agent-pm.toml"] is OpKind.CREATE
    assert planned["_bmad/_config/agents/bmm-pm.customize.yaml"] is OpKind.DELETE
    assert planned[".claude/commands/bmad-agent-bmm-pm.md"] is OpKind.DELETE
    assert "_bmad/custom/bmadweb.lock.json" not in planned  # no manifest, no lock
    migrated = {a["source"]: a["skill"] for a in summary["migrated"]["agents"]}
    assert migrated["_bmad/_config/agents/bmm-pm.customize.yaml"] == "bmad-agent-pm"


def test_with_a_manifest_the_plan_also_brings_the_tree_in_sync(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v60(root)
    add_orphaned_customize_yaml(root)
    upgrade = upgrade_tree(
        root,
        target="6.12.0",
        install=FakeInstaller(),
        scratch=tmp_path / "s",
        manifest=manifest(),
        manifest_revision="r1",
    )
    apply_plan(root, upgrade.plan)
    report = analyze_repo(root, manifest()).report
    assert report.in_sync
    assert report.install.version == "6.12.0"
    codes = {f.code for f in report.findings}
    assert not codes & {"BMAD_ORPHANED_CUSTOMIZE_YAML", "BMAD_STALE_COMMAND_WRAPPERS"}


def test_hand_edits_are_saved_and_offered_again_on_the_new_version(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, version="6.11.0")
    old = (root / PM_SKILL).read_text()
    edit_file(root, PM_SKILL, "\nTeam rule: PRDs fit on one page.\n")
    new = old.replace("# bmad-agent-pm", "# bmad-agent-pm (6.12)")
    installer = FakeInstaller(new_pm_text=new)
    upgrade = upgrade_tree(root, target="6.12.0", install=installer, scratch=tmp_path / "s")
    fresh, update = installer.requests
    assert (fresh.version, fresh.action) == ("6.11.0", None)  # the earlier text, to diff
    assert fresh.directory == tmp_path / "s" / "pristine"
    assert update.action == "update"
    ops = {op.path: op for op in upgrade.plan.operations}
    assert ops[PM_SKILL].kind is OpKind.MERGE  # needs approval
    assert "+Team rule: PRDs fit on one page." in ops[PM_SKILL].diff
    patch = ops[f"{RESCUE_DIR}/bmad-agent-pm.patch"]
    assert patch.content is not None
    assert "+Team rule: PRDs fit on one page." in patch.content
    assert "--- a/.claude/skills/bmad-agent-pm/SKILL.md" in patch.content
    records = {r["path"]: r for r in upgrade.summary()["rescued"]}
    assert records[PM_SKILL]["reapplied"] is True
    apply_plan(root, upgrade.plan)
    text = (root / PM_SKILL).read_text()
    assert "(6.12)" in text
    assert "Team rule: PRDs fit on one page." in text


def test_an_edit_the_new_version_overlaps_is_saved_not_applied(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, version="6.11.0")
    old = (root / PM_SKILL).read_text()
    write_file(root, PM_SKILL, old.replace("Follow the steps", "Our steps"))
    installer = FakeInstaller(new_pm_text=old.replace("Follow the steps", "Run the steps"))
    upgrade = upgrade_tree(root, target="6.12.0", install=installer, scratch=tmp_path / "s")
    kinds = {op.path: op.kind for op in upgrade.plan.operations}
    assert PM_SKILL not in kinds
    assert kinds[f"{RESCUE_DIR}/bmad-agent-pm.patch"] is OpKind.CREATE
    assert any("overlaps the upgraded text" in note for note in upgrade.plan.notes)


def test_without_the_earlier_text_the_edit_is_still_saved(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, version="6.11.0")
    edit_file(root, PM_SKILL, "\nTeam rule.\n")
    installer = FakeInstaller(fail_fresh=True)
    upgrade = upgrade_tree(root, target="6.12.0", install=installer, scratch=tmp_path / "s")
    patch = next(op for op in upgrade.plan.operations if op.path.startswith(RESCUE_DIR))
    assert patch.content is not None
    assert "+Team rule." in patch.content
    assert any("not re-applied automatically" in note for note in upgrade.plan.notes)


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("latest", "not an exact BMAD version"),
        ("6.12", "not an exact BMAD version"),
        ("6.12.0; rm -rf /", "not an exact BMAD version"),
        ("5.0.0", "6.0.4 or later"),
    ],
)
def test_targets_that_are_not_upgrades_are_refused(tmp_path: Path, target: str, why: str) -> None:
    build_v60(tmp_path)
    with pytest.raises(UpgradeRefused, match=why):
        check_target(detect_install(tmp_path), target)


def test_a_downgrade_is_refused(tmp_path: Path) -> None:
    build_v64(tmp_path, version="6.12.0")
    with pytest.raises(UpgradeRefused, match="not a downgrade"):
        check_target(detect_install(tmp_path), "6.11.0")
    assert check_target(detect_install(tmp_path), "6.12.0") == "6.12.0"  # a repair is fine


def test_layouts_the_installer_cannot_update_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UpgradeRefused, match="no BMAD install"):
        check_target(detect_install(tmp_path), "6.12.0")
    build_v4(tmp_path)
    with pytest.raises(UpgradeRefused, match="found this layout"):
        check_target(detect_install(tmp_path), "6.12.0")


def test_changes_are_counted_per_folder() -> None:
    changes = TreeChanges(
        added=(".claude/skills/bmad-prd/SKILL.md", "_bmad/config.toml"),
        changed=("_bmad/_config/manifest.yaml", ".gitignore"),
        deleted=("_bmad/bmm/agents/pm.md",),
    )
    assert changes.folders() == [
        {"folder": ".", "added": 0, "changed": 1, "deleted": 0},
        {"folder": ".claude/skills", "added": 1, "changed": 0, "deleted": 0},
        {"folder": "_bmad", "added": 1, "changed": 0, "deleted": 0},
        {"folder": "_bmad/_config", "added": 0, "changed": 1, "deleted": 0},
        {"folder": "_bmad/bmm", "added": 0, "changed": 0, "deleted": 1},
    ]
    assert folder_of("README.md") == "."
    moved = TreeChanges(added=changes.added, changed=(), deleted=changes.deleted)
    assert changes.fingerprint() != moved.fingerprint()
    assert (
        changes.fingerprint()
        == TreeChanges(changes.added, changes.changed, changes.deleted).fingerprint()
    )
