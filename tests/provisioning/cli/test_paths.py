"""`manage.py bmad` on files (provisioning.cli.paths): validate, analyze, plan and diff a
local checkout, and print the schema; exit codes 0 in sync / valid, 1 drift / invalid,
2 error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.provisioning.cli.cli_helpers import bmad
from tests.provisioning.engine.builders import build_v64
from tests.repos import DEMO_MANIFEST


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    build_v64(root)
    return root


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    path = tmp_path / "bmadweb.yaml"
    path.write_text(DEMO_MANIFEST, encoding="utf-8")
    return path


def test_validate_valid_manifest_exits_0(manifest_file):
    code, out = bmad("validate", "--manifest", str(manifest_file))
    assert code == 0
    assert "valid" in out


def test_validate_reports_every_error_with_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        DEMO_MANIFEST.replace("id: dev-leader", "id: Dev_Leader").replace(
            "tools: [claude-code, cursor]", "tools: [emacs]"
        )
    )
    code, out = bmad("validate", "--manifest", str(bad), "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert data["valid"] is False
    positions = {e["path"]: (e["line"], e["column"]) for e in data["errors"]}
    assert positions == {"project.tools[0]": (6, 11), "leaders[0].id": (8, 9)}


def test_hostile_yaml_is_an_invalid_manifest_not_a_crash(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text('a: &a ["x","x"]\nb: &b [*a,*a]\nc: [*b,*b]\n')
    code, out = bmad("validate", "--manifest", str(bomb))
    assert code == 1
    assert "line" in out


def test_analyze_checkout_reports_drift_as_json(checkout, manifest_file):
    code, out = bmad(
        "analyze", "--path", str(checkout), "--manifest", str(manifest_file), "--format", "json"
    )
    data = json.loads(out)
    assert code == 1
    assert data["bmad"]["generation"] == "6.4"
    assert data["bmad"]["version"] == "6.12.0"
    assert set(data["bmad"]["modules"]) >= {"core", "bmm"}
    assert "claude-code" in data["bmad"]["tools"]
    assert {i["state"] for i in data["items"]} == {"missing"}
    assert all({"code", "severity", "paths"} <= f.keys() for f in data["findings"])


def test_plan_and_diff_list_operations_without_writing(checkout, manifest_file):
    before = sorted(p.relative_to(checkout) for p in checkout.rglob("*"))
    code, out = bmad(
        "plan", "--path", str(checkout), "--manifest", str(manifest_file), "--format", "json"
    )
    assert code == 1
    ops = json.loads(out)["operations"]
    assert any(
        op["path"] == ".claude/skills/dev-leader/SKILL.md" and op["action"] == "create"
        for op in ops
    )
    code, diff = bmad("diff", "--path", str(checkout), "--manifest", str(manifest_file))
    assert code == 1
    assert "+++ b/.claude/skills/dev-leader/SKILL.md" in diff
    assert sorted(p.relative_to(checkout) for p in checkout.rglob("*")) == before


def test_missing_path_is_an_error_exit_2(tmp_path, manifest_file):
    code, out = bmad("analyze", "--path", str(tmp_path / "nope"), "--manifest", str(manifest_file))
    assert code == 2
    assert "not a directory" in out


def test_schema_prints_the_json_schema():
    code, out = bmad("schema")
    assert code == 0
    schema = json.loads(out)
    assert "properties" in schema
    assert "leaders" in schema["properties"]


def test_analyze_without_a_manifest_audits_the_install_alone(checkout):
    code, out = bmad("analyze", "--path", str(checkout), "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["status"] == "in_sync"
    assert data["items"] == []
    assert data["bmad"]["version"] == "6.12.0"
    (checkout / "_bmad").rename(checkout / "elsewhere")
    code, out = bmad("analyze", "--path", str(checkout))
    assert code == 1
    assert "BMAD_NOT_INSTALLED" in out


def test_apply_writes_the_working_tree_then_analyze_is_in_sync(checkout, manifest_file):
    code, out = bmad("apply", "--path", str(checkout), "--manifest", str(manifest_file))
    assert code == 0, out
    assert "nothing committed" in out
    assert (checkout / ".claude/skills/dev-leader/SKILL.md").is_file()
    code, out = bmad("analyze", "--path", str(checkout), "--manifest", str(manifest_file))
    assert code == 0, out


def test_plan_and_provision_modes_need_what_they_work_on(checkout, manifest_file):
    assert bmad("plan", "--path", str(checkout))[0] == 2
    code, out = bmad("apply", "--project", "healthai", "--manifest", str(manifest_file))
    assert code == 2
    assert "local checkout" in out
