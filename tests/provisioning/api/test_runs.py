"""Runs through the REST API (provisioning.api.runs): start, follow, approve and cancel,
busy projects, hostile ids and slugs, listing and filtering, and the workflows."""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.models import Run, RunKind, RunStatus, RunTrigger
from tests.provisioning.api.api_helpers import Api, token_for

pytestmark = pytest.mark.django_db


def _start(api: Api, kind: str, capture) -> Any:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        response = api.post("/projects/healthai/runs", {"kind": kind})
    return response


def test_analyze_run_through_the_api_end_to_end(
    bmad_project, as_owner, run_worker, django_capture_on_commit_callbacks
):
    response = _start(as_owner, "analyze", django_capture_on_commit_callbacks)
    assert response.status_code == 201
    run_id = response.json()["id"]
    assert response.json()["status"] == "queued"
    assert Run.objects.get(pk=run_id).trigger == RunTrigger.API
    run_worker()
    detail = as_owner.get(f"/projects/healthai/runs/{run_id}").json()
    assert detail["status"] == "succeeded", detail["failure_reason"]
    assert detail["started"]
    assert detail["finished"]
    assert any("Gap report" in entry["message"] for entry in detail["log"])
    report = as_owner.get("/projects/healthai/report").json()
    assert report["run_id"] == run_id
    assert report["bmad"]["version"] == "6.12.0"
    assert {i["state"] for i in report["items"]} == {"missing"}


def test_report_before_any_analysis_is_404_with_a_reason(bmad_project, as_owner):
    response = as_owner.get("/projects/healthai/report")
    assert response.status_code == 404
    assert "not been analysed" in response.json()["detail"]


def test_second_run_while_busy_is_409_with_the_active_run(bmad_project, as_owner):
    first = as_owner.post("/projects/healthai/runs", {"kind": "analyze"}).json()
    response = as_owner.post("/projects/healthai/runs", {"kind": "provision"})
    assert response.status_code == 409
    assert response.json()["active_run_id"] == first["id"]
    assert "busy" in response.json()["detail"]
    assert Run.objects.count() == 1


def test_run_without_manifest_is_422(project, as_owner):
    response = as_owner.post("/projects/healthai/runs", {"kind": "provision"})
    assert response.status_code == 422
    assert "no manifest" in response.json()["detail"]


@pytest.mark.parametrize("body", [{"kind": "deploy"}, {}, {"kind": "analyze", "force": True}])
def test_unknown_run_kind_is_422(bmad_project, as_owner, body):
    assert as_owner.post("/projects/healthai/runs", body).status_code == 422
    assert Run.objects.count() == 0


def test_viewer_cannot_start_runs(viewer_of_bmad, as_viewer):
    response = as_viewer.post("/projects/healthai/runs", {"kind": "analyze"})
    assert response.status_code == 403
    assert Run.objects.count() == 0


def test_editor_may_analyze_but_not_provision(editor, bmad_project):
    api = Api(token_for(editor))
    assert api.post("/projects/healthai/runs", {"kind": "provision"}).status_code == 403
    assert api.post("/projects/healthai/runs", {"kind": "analyze"}).status_code == 201


def test_provision_waits_for_approval_then_applies_when_approved(
    bmad_project, as_owner, run_worker, django_capture_on_commit_callbacks
):
    bmad_project.require_approval = True
    bmad_project.save()
    run_id = _start(as_owner, "provision", django_capture_on_commit_callbacks).json()["id"]
    run_worker()
    detail = as_owner.get(f"/projects/healthai/runs/{run_id}").json()
    assert detail["status"] == "awaiting_approval"
    assert detail["plan"]["change_count"] == 20  # 16 skill files, 2 customizations, lock, config
    assert "+++ b/" in detail["diff"]
    with django_capture_on_commit_callbacks(execute=True):
        response = as_owner.post(f"/projects/healthai/runs/{run_id}/approve")
    assert response.status_code == 200
    assert response.json()["approved_by"] == "olivia"
    run_worker()
    detail = as_owner.get(f"/projects/healthai/runs/{run_id}").json()
    assert detail["status"] == "pushed", detail["failure_reason"]
    assert detail["branch"] == f"bmadweb/healthai/{run_id}"
    assert len(detail["commit_sha"]) == 40


def test_cancel_a_queued_run_and_cancel_again_is_409(bmad_project, as_owner):
    run_id = as_owner.post("/projects/healthai/runs", {"kind": "analyze"}).json()["id"]
    response = as_owner.post(f"/projects/healthai/runs/{run_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = as_owner.post(f"/projects/healthai/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert "can no longer be cancelled" in again.json()["detail"]


def test_approve_a_run_not_awaiting_approval_is_409(bmad_project, as_owner):
    run_id = as_owner.post("/projects/healthai/runs", {"kind": "analyze"}).json()["id"]
    response = as_owner.post(f"/projects/healthai/runs/{run_id}/approve")
    assert response.status_code == 409
    assert Run.objects.get(pk=run_id).status == RunStatus.QUEUED


def test_viewer_cannot_approve_or_cancel(viewer_of_bmad, bmad_project, owner, as_viewer):
    run = Run.objects.create(project=bmad_project, kind=RunKind.ANALYZE, actor=owner)
    assert as_viewer.post(f"/projects/healthai/runs/{run.pk}/cancel").status_code == 403
    assert as_viewer.post(f"/projects/healthai/runs/{run.pk}/approve").status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_run_of_another_project_is_404(bmad_project, owner, make_project, as_owner):
    other = make_project()
    run = Run.objects.create(project=other, kind=RunKind.ANALYZE, actor=owner)
    assert as_owner.get(f"/projects/healthai/runs/{run.pk}").status_code == 404
    assert as_owner.post(f"/projects/healthai/runs/{run.pk}/cancel").status_code == 404


@pytest.mark.parametrize("run_id", ["0", "-1", "abc", "99999999999999999999999", "1.5"])
def test_hostile_run_ids_are_4xx(bmad_project, as_owner, run_id):
    response = as_owner.get(f"/projects/healthai/runs/{run_id}")
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("slug", ["a" * 300, "%00", "..", "h%C3%A9", "x%27%20OR%201=1"])
def test_hostile_slugs_are_404(bmad_project, as_owner, slug):
    response = as_owner.get(f"/projects/{slug}/runs")
    # A NUL anywhere in a request is refused before routing (docs/security.md#s23).
    assert response.status_code == (400 if slug == "%00" else 404)


def test_runs_are_listed_and_filtered(bmad_project, owner, as_owner):
    for kind, status in [
        (RunKind.ANALYZE, RunStatus.SUCCEEDED),
        (RunKind.PROVISION, RunStatus.FAILED),
        (RunKind.ANALYZE, RunStatus.FAILED),
    ]:
        Run.objects.create(project=bmad_project, kind=kind, status=status, actor=owner)
    body = as_owner.get("/projects/healthai/runs?kind=analyze&status=failed").json()
    assert body["count"] == 1
    assert (body["items"][0]["kind"], body["items"][0]["status"]) == ("analyze", "failed")
    assert as_owner.get("/projects/healthai/runs").json()["count"] == 3
    assert as_owner.get("/projects/healthai/runs?status=bogus").status_code == 422
    assert as_owner.get("/projects/healthai/runs?limit=0").status_code == 422


def test_workflows_list_the_run_kinds(project, as_owner):
    body = as_owner.get("/workflows").json()
    assert [w["kind"] for w in body] == ["analyze", "provision", "upgrade"]
    assert all(w["description"] for w in body)


def test_an_upgrade_run_takes_an_exact_version(bmad_project, as_owner, editor):
    for bad in ({"kind": "upgrade"}, {"kind": "upgrade", "target_version": "latest"}):
        assert as_owner.post("/projects/healthai/runs", bad).status_code == 422
    assert (
        Api(token_for(editor))
        .post("/projects/healthai/runs", {"kind": "upgrade", "target_version": "6.12.0"})
        .status_code
        == 403
    )  # an upgrade needs provision_project, as provisioning does
    response = as_owner.post(
        "/projects/healthai/runs", {"kind": "upgrade", "target_version": "6.12.0"}
    )
    assert response.status_code == 201
    assert (response.json()["kind"], response.json()["target_version"]) == ("upgrade", "6.12.0")
    assert Run.objects.get().target_version == "6.12.0"


def test_a_run_that_needs_attention_is_finished_and_lists_its_conflict_keys(bmad_project, as_owner):
    conflict = {"path": "_bmad/custom/config.toml", "reason": "r", "keys": ["agents.x.name"]}
    plan = {
        "requires_approval": False,
        "change_count": 0,
        "operations": [],
        "conflicts": [conflict],
        "notes": [],
    }
    run = Run.objects.create(
        project=bmad_project, kind=RunKind.PROVISION, status=RunStatus.NEEDS_ATTENTION, plan=plan
    )
    detail = as_owner.get(f"/projects/healthai/runs/{run.pk}").json()
    assert detail["status"] == "needs_attention"
    assert detail["plan"]["conflicts"] == [conflict]
    listed = as_owner.get("/projects/healthai/runs?status=needs_attention").json()
    assert [r["id"] for r in listed["items"]] == [run.pk]
    # Finished, not active: a new run may start.
    assert as_owner.post("/projects/healthai/runs", {"kind": "analyze"}).status_code == 201
