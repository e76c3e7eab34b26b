"""`manage.py bmad --project SLUG` (provisioning.cli.projects): runs on a registered
project, waited for or queued; exit codes 0 pushed / in sync, 1 needs approval / drift,
2 no such project."""

from __future__ import annotations

import json

import pytest

from provisioning.models import Run, RunStatus
from tests.provisioning.cli.cli_helpers import bmad
from tests.repos import DEMO_MANIFEST, merge_branch, push_change, remote_branches, remote_file


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


@pytest.mark.django_db
def test_provision_that_leaves_a_conflict_exits_1_and_lists_it(
    bmad_project, bmad_remote, owner, tmp_path
):
    from projects import services as project_services

    code, out = bmad("provision", "--project", "healthai", "--wait", "--format", "json")
    assert code == 0, out
    merge_branch(bmad_remote, tmp_path, json.loads(out)["run"]["branch"])
    config = "_bmad/custom/config.toml"
    old = "Routes engineering requests to the right specialist."
    team = remote_file(bmad_remote, "main", config).replace(old, "Our own words.") + "\n"
    push_change(bmad_remote, tmp_path, config, team)
    project_services.manifest_save(
        actor=owner,
        project=bmad_project,
        yaml_text=DEMO_MANIFEST.replace(old, "Routes every engineering request."),
        message="reword",
    )
    code, out = bmad("provision", "--project", "healthai", "--wait")
    assert code == 1, out
    assert "Needs attention" in out
    assert f"Conflict left for the team: {config} (keys: agents.dev-leader.description)" in out
    assert Run.objects.latest("pk").status == RunStatus.NEEDS_ATTENTION
