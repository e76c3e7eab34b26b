"""Gap analysis reaches every item state on real directory trees, and never writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from provisioning.engine.detect import detect_install
from provisioning.engine.gap import GapReport, ItemState, analyze
from provisioning.engine.generator import generate
from provisioning.engine.manifest import Manifest
from provisioning.engine.paths import LOCK_PATH
from provisioning.engine.plan import apply_plan, make_plan
from provisioning.engine.types import BmadInstall, Finding, Generation, Severity
from tests.provisioning.engine.builders import build_v60, build_v64, edit_file, write_file

INSTALL = BmadInstall(Generation.V6_4, "6.12.0", ("core", "bmm"), ("claude-code",), "_bmad")
LEADER_MD = ".claude/skills/dev-leader/SKILL.md"
FE_MD = ".claude/skills/fe/SKILL.md"


def manifest(description: str = "Routes work.", specialists: int = 2) -> Manifest:
    names = ["fe", "be", "ops"][:specialists]
    return Manifest.model_validate(
        {
            "apiVersion": "bmadweb/v1",
            "project": {"name": "demo", "bmad_version": ">=6.4,<7", "tools": ["claude-code"]},
            "leaders": [
                {
                    "id": "dev-leader",
                    "name": "Dev Leader",
                    "domain": "engineering",
                    "description": description,
                    "specialists": [{"id": n, "name": n.upper(), "domain": n} for n in names],
                }
            ],
        }
    )


def provisioned(tmp_path: Path, m: Manifest | None = None) -> Path:
    """A 6.4 repo where bmadweb already wrote everything `m` implies."""
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    m = m or manifest()
    apply_plan(root, make_plan(analyze(root, m, INSTALL), generate(m, INSTALL)))
    return root


def states(report: GapReport) -> dict[str, ItemState]:
    return {item.path: item.state for item in report.items}


def snapshot(root: Path) -> dict[str, Any]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_fresh_install_has_every_item_missing(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    report = analyze(root, manifest(), INSTALL)
    assert set(states(report).values()) == {ItemState.MISSING}
    config = next(i for i in report.items if i.path == "_bmad/custom/config.toml")
    assert "rest of the file kept" in config.reason


def test_after_provisioning_everything_is_up_to_date(tmp_path: Path) -> None:
    report = analyze(provisioned(tmp_path), manifest(), INSTALL)
    assert set(states(report).values()) == {ItemState.UP_TO_DATE}
    assert report.in_sync
    assert report.counts()["up-to-date"] == len(report.items)


def test_untouched_file_with_changed_generator_output_is_outdated(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    found = states(analyze(root, manifest("Routes all the work."), INSTALL))
    assert found[LEADER_MD] is ItemState.OUTDATED
    assert found[FE_MD] is ItemState.UP_TO_DATE


def test_hand_edit_with_unchanged_generator_output_is_modified(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    edit_file(root, FE_MD)
    assert states(analyze(root, manifest(), INSTALL))[FE_MD] is ItemState.MODIFIED


def test_hand_edit_and_changed_generator_output_is_a_conflict(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    edit_file(root, LEADER_MD)
    report = analyze(root, manifest("Routes all the work."), INSTALL)
    item = next(i for i in report.items if i.path == LEADER_MD)
    assert item.state is ItemState.CONFLICT
    assert item.base is not None
    assert item.current is not None
    assert "edited by hand" in item.current


def test_file_no_longer_declared_is_orphaned(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    found = states(analyze(root, manifest(specialists=1), INSTALL))
    assert found[".claude/skills/be/SKILL.md"] is ItemState.ORPHANED
    assert found[".claude/skills/be/customize.toml"] is ItemState.ORPHANED


def test_file_bmadweb_did_not_write_is_unmanaged(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    write_file(root, FE_MD, "# Our own fe skill\n")
    found = states(analyze(root, manifest(), INSTALL))
    assert found[FE_MD] is ItemState.UNMANAGED


def test_identical_unlocked_file_counts_as_up_to_date(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    content = generate(manifest(), INSTALL).by_path()[FE_MD].content
    write_file(root, FE_MD, content)
    assert states(analyze(root, manifest(), INSTALL))[FE_MD] is ItemState.UP_TO_DATE


def test_symlinked_skill_folder_is_unsafe_and_not_read(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    outside = tmp_path / "outside"
    (outside / "fe").mkdir(parents=True)
    (outside / "fe" / "SKILL.md").write_text("secret")
    os.rename(root / ".claude" / "skills", tmp_path / "moved")
    os.symlink(outside, root / ".claude" / "skills")
    report = analyze(root, manifest(), INSTALL)
    item = next(i for i in report.items if i.path == FE_MD)
    assert item.unsafe
    assert item.current is None
    assert "Unsafe path" in item.reason


def test_symlinked_target_file_is_unsafe(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    (root / FE_MD).unlink()
    os.symlink("/etc/passwd", root / FE_MD)
    item = next(i for i in analyze(root, manifest(), INSTALL).items if i.path == FE_MD)
    assert item.unsafe
    assert item.current is None


def test_malformed_lock_is_reported_and_treated_as_absent(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    (root / LOCK_PATH).write_text("{not json")
    report = analyze(root, manifest(), INSTALL)
    assert any("Lock file" in note for note in report.notes)
    assert set(states(report).values()) == {ItemState.UP_TO_DATE}  # equal text is adopted
    edit_file(root, FE_MD)
    assert states(analyze(root, manifest(), INSTALL))[FE_MD] is ItemState.UNMANAGED


def test_analysis_never_writes(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    edit_file(root, LEADER_MD)
    before = snapshot(root)
    analyze(root, manifest("Changed.", specialists=1), INSTALL)
    assert snapshot(root) == before


def test_findings_and_notes_are_carried(tmp_path: Path) -> None:
    finding = Finding("X", Severity.INFO, "t", "e", "r", False)
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    report = analyze(root, manifest(), BmadInstall(Generation.V4, "4.44.3"), findings=[finding])
    assert report.findings == (finding,)
    assert report.items == ()
    assert any("not supported" in n for n in report.notes)


@pytest.mark.parametrize("bad", ["[agents\n", "agents = 3\n"])
def test_team_toml_that_cannot_be_edited_is_a_conflict(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "repo"
    build_v64(root, tools=("claude-code",))
    write_file(root, "_bmad/custom/config.toml", bad)
    found = states(analyze(root, manifest(), INSTALL))
    assert found["_bmad/custom/config.toml"] is ItemState.CONFLICT


def _pm_customized() -> Manifest:
    data = manifest().model_dump(by_alias=True)
    data["customizations"] = {"bmad-agent-pm": {"principles": ["Short PRDs."]}}
    return Manifest.model_validate(data)


def test_bmads_empty_agent_template_is_filled_without_force(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v60(root)  # the installer writes an empty bmm-pm.customize.yaml for every agent
    install = detect_install(root)
    report = analyze(root, _pm_customized(), install)
    (item,) = [i for i in report.items if i.path.endswith("bmm-pm.customize.yaml")]
    assert item.state is ItemState.MISSING
    assert "empty template" in item.reason
    plan = make_plan(report, generate(_pm_customized(), install))
    apply_plan(root, plan)
    assert "Short PRDs." in (root / item.path).read_text()
    # the lock bmadweb keeps in _bmad/custom/ does not make the install look like 6.4
    assert detect_install(root).generation is Generation.V6_0


def test_an_agent_file_the_team_filled_by_hand_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    build_v60(root)
    write_file(root, "_bmad/_config/agents/bmm-pm.customize.yaml", "persona:\n  role: Ours\n")
    report = analyze(root, _pm_customized(), detect_install(root))
    (item,) = [i for i in report.items if i.path.endswith("bmm-pm.customize.yaml")]
    assert item.state is ItemState.UNMANAGED
