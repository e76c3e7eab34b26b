"""`manage.py bmad`: exit codes 0 in sync / valid, 1 drift / invalid, 2 error."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from provisioning.models import Run, RunStatus
from tests.provisioning.engine.builders import build_v64
from tests.repos import DEMO_MANIFEST, remote_branches


def bmad(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("bmad", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


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


@pytest.mark.django_db
def test_provision_project_wait_pushes_and_exits_0(bmad_project, bmad_remote):
    code, out = bmad("provision", "--project", "healthai", "--wait", "--format", "json")
    data = json.loads(out)
    assert code == 0, out
    assert data["run"]["status"] == RunStatus.PUSHED
    assert data["run"]["branch"] in remote_branches(bmad_remote)
    assert len(data["run"]["commit"]) == 40


@pytest.mark.django_db
def test_provision_needing_approval_exits_1_unless_approved(bmad_project):
    bmad_project.require_approval = True
    bmad_project.save()
    code, out = bmad("provision", "--project", "healthai", "--wait")
    assert code == 1
    assert "needs approval" in out
    Run.objects.update(status=RunStatus.CANCELLED)
    code, out = bmad("provision", "--project", "healthai", "--wait", "--approve")
    assert code == 0, out
    assert "Pushed" in out


@pytest.mark.django_db
def test_analyze_project_wait_reports_drift(bmad_project):
    code, out = bmad("analyze", "--project", "healthai", "--wait")
    assert code == 1
    assert "BMAD 6.12.0" in out


@pytest.mark.django_db
def test_analyze_project_without_wait_queues_a_run(
    bmad_project, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        code, _out = bmad("analyze", "--project", "healthai")
    assert code == 0
    run = Run.objects.get()
    assert run.status == RunStatus.QUEUED
    assert run.job_id.startswith("run-")


@pytest.mark.django_db
def test_unknown_project_is_exit_2():
    code, out = bmad("analyze", "--project", "nope", "--wait")
    assert code == 2
    assert "no project" in out
