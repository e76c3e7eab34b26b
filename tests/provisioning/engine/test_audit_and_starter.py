"""The install audit (an analysis without a manifest), the starter manifest built from
what is installed, and hand edits that merge cleanly counted as drift, not conflict."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.engine.gap import ItemState, analyze
from provisioning.engine.manifest import load_manifest
from provisioning.engine.pipeline import (
    AUDIT_NOTE,
    analyze_repo,
    merges_cleanly,
    report_to_dict,
    sync_status,
)
from provisioning.engine.starter import starter_manifest, version_range
from tests.provisioning.engine.builders import build_v64, edit_file
from tests.provisioning.engine.test_gap import INSTALL, LEADER_MD, manifest, provisioned


def test_analysis_without_a_manifest_is_an_install_audit(tmp_path: Path) -> None:
    build_v64(tmp_path)
    analysis = analyze_repo(tmp_path, None)
    report = report_to_dict(analysis.report)
    assert report["items"] == []
    assert report["bmad"]["version"]
    assert report["bmad"]["modules"]
    assert report["notes"] == [AUDIT_NOTE]
    assert analysis.generated.files == ()


def test_audit_of_an_empty_repository_says_bmad_is_not_installed(tmp_path: Path) -> None:
    report = report_to_dict(analyze_repo(tmp_path, None).report)
    assert report["bmad"]["generation"] == "none"
    assert any(f["severity"] == "error" for f in report["findings"])


def test_starter_manifest_carries_the_installed_modules_and_tools(tmp_path: Path) -> None:
    build_v64(tmp_path)
    bmad = report_to_dict(analyze_repo(tmp_path, None).report)["bmad"]
    text = starter_manifest(
        name="healthai", version=bmad["version"], modules=bmad["modules"], tools=bmad["tools"]
    )
    result = load_manifest(text)
    assert result.ok, result.errors
    assert result.manifest is not None
    assert list(result.manifest.project.modules) == [m for m in bmad["modules"]]
    assert set(result.manifest.project.tools) == set(bmad["tools"])
    assert result.manifest.project.bmad_version == version_range(bmad["version"])


@pytest.mark.parametrize(
    ("version", "expected"),
    [("6.12.0", ">=6.12,<7"), ("7.0.1", ">=7.0,<8"), (None, ">=6.4,<7"), ("nope", ">=6.4,<7")],
)
def test_version_range_around_the_installed_version(version: str | None, expected: str) -> None:
    assert version_range(version) == expected


@pytest.mark.parametrize(
    ("name", "modules", "tools"),
    [
        ("x: y # not a comment", ["Bad_Id", "core"], ["unknown-tool"]),
        ("\"quoted\" 'name'", [], []),
        ("ünïcode", ["a" * 70], ["claude-code", "cursor"]),
    ],
)
def test_starter_manifest_is_always_valid(name: str, modules: list[str], tools: list[str]) -> None:
    result = load_manifest(starter_manifest(name=name, modules=modules, tools=tools))
    assert result.ok, result.errors


def test_a_hand_edit_that_merges_cleanly_is_drift_not_conflict(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    edit_file(root, LEADER_MD, "\nTeam note: be kind.\n")
    report = analyze(root, manifest("Routes all the work."), INSTALL)
    (item,) = [i for i in report.items if i.path == LEADER_MD]
    assert item.state is ItemState.CONFLICT
    assert merges_cleanly(item)
    assert sync_status(report) == "drift"
    as_dict = report_to_dict(report)
    assert as_dict["status"] == "drift"
    (row,) = [i for i in as_dict["items"] if i["path"] == LEADER_MD]
    assert row["merges_cleanly"] is True


def test_an_edit_in_the_same_lines_stays_a_conflict(tmp_path: Path) -> None:
    root = provisioned(tmp_path)
    path = root / LEADER_MD
    path.write_text(path.read_text().replace("Routes work.", "Team wording."))
    report = analyze(root, manifest("Generator wording."), INSTALL)
    (item,) = [i for i in report.items if i.path == LEADER_MD]
    assert not merges_cleanly(item)
    assert report_to_dict(report)["status"] == "conflict"
