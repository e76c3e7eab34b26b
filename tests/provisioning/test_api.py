"""The REST API: bearer tokens only, scopes, the same permissions as the UI (outsider →
404, missing permission → 403), manifests, runs, reports, skills, rate limits, no CORS."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from bmadweb.models import ApiToken
from bmadweb.tokens import token_create, token_revoke
from projects import services as project_services
from projects.models import ManifestRevision
from projects.roles import Role
from provisioning.models import Run, RunKind, RunStatus, RunTrigger
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db

API = "/api/v1"
ALL_SCOPES = ["read", "write", "run"]


def _token(user, scopes=ALL_SCOPES, days=30) -> str:  # type: ignore[no-untyped-def]
    return token_create(user=user, name="test", scopes=scopes, expires_in_days=days)[1]


class Api:
    """A test client that sends one bearer token."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        data = json.dumps(body) if body is not None else None
        return getattr(self.client, method)(
            API + path,
            data=data,
            content_type="application/json",
            headers={**self.headers, **headers},
        )

    def get(self, path: str, **headers: str) -> Any:
        return self.call("get", path, **headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("post", path, body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        return self.call("put", path, body)


@pytest.fixture
def as_owner(owner) -> Api:  # type: ignore[no-untyped-def]
    return Api(_token(owner))


@pytest.fixture
def as_viewer(viewer) -> Api:  # type: ignore[no-untyped-def]
    return Api(_token(viewer))


@pytest.fixture
def as_outsider(outsider) -> Api:  # type: ignore[no-untyped-def]
    return Api(_token(outsider))


@pytest.fixture
def editor(django_user_model, bmad_project, owner):  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user("edith", password="editor-pass-12345")
    project_services.role_grant(actor=owner, project=bmad_project, role=Role.EDITOR, user=user)
    return user


@pytest.fixture
def viewer_of_bmad(bmad_project, owner, viewer):  # type: ignore[no-untyped-def]
    project_services.role_grant(actor=owner, project=bmad_project, role=Role.VIEWER, user=viewer)
    return viewer


def _start(api: Api, kind: str, capture) -> Any:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        response = api.post("/projects/healthai/runs", {"kind": kind})
    return response


# --- Authentication ----------------------------------------------------------------------


def test_missing_token_is_401_with_a_bearer_challenge(project):
    response = Api(None).get("/projects")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "Bearer" in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        "Bearer bmw_" + "A" * 43,
        "Basic b2xpdmlhOm93bmVyLXBhc3MtMTIzNDU=",
        "Token bmw_x",
        "Bearer " + "x" * 10_000,
    ],
)
def test_garbage_authorization_is_401(project, header):
    client = Client()
    response = client.get(API + "/projects", headers={"Authorization": header})
    assert response.status_code == 401


def test_expired_token_is_401(project, owner):
    raw = _token(owner)
    ApiToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert Api(raw).get("/projects").status_code == 401


def test_revoked_token_is_401(project, owner):
    raw = _token(owner)
    token_revoke(token=ApiToken.objects.get(), actor=owner)
    assert Api(raw).get("/projects").status_code == 401


def test_token_in_query_string_is_ignored(project, owner):
    raw = _token(owner)
    client = Client()
    assert client.get(f"{API}/projects?token={raw}&access_token={raw}").status_code == 401


def test_token_in_cookie_is_ignored(project, owner):
    raw = _token(owner)
    client = Client()
    client.cookies["token"] = raw
    client.cookies["Authorization"] = f"Bearer {raw}"
    assert client.get(f"{API}/projects").status_code == 401


def test_session_cookie_alone_is_401(project, owner):
    client = Client()
    client.force_login(owner)
    assert client.get(f"{API}/projects").status_code == 401
    assert client.get(f"{API}/projects/healthai").status_code == 401


def test_valid_token_works_without_csrf_token(bmad_project, owner):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"{API}/projects/healthai/manifest/validate",
        data=json.dumps({"yaml": DEMO_MANIFEST}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {_token(owner)}"},
    )
    assert response.status_code == 200


# --- Scopes ------------------------------------------------------------------------------


def test_read_only_token_cannot_save_manifest(bmad_project, owner):
    api = Api(_token(owner, scopes=["read"]))
    response = api.put("/projects/healthai/manifest", {"yaml": DEMO_MANIFEST})
    assert response.status_code == 403
    assert "'write' scope" in response.json()["detail"]


def test_read_only_token_cannot_start_a_run(bmad_project, owner):
    api = Api(_token(owner, scopes=["read"]))
    response = api.post("/projects/healthai/runs", {"kind": "analyze"})
    assert response.status_code == 403
    assert Run.objects.count() == 0


def test_write_only_token_cannot_read(bmad_project, owner):
    api = Api(_token(owner, scopes=["write"]))
    assert api.get("/projects/healthai").status_code == 403


def test_run_scope_without_read_still_starts_runs(bmad_project, owner):
    api = Api(_token(owner, scopes=["run"]))
    assert api.post("/projects/healthai/runs", {"kind": "analyze"}).status_code == 201


# --- Object permissions: outsider → 404 everywhere ------------------------------------


PROJECT_ROUTES = [
    ("get", "/projects/healthai", None),
    ("get", "/projects/healthai/manifest", None),
    ("get", "/projects/healthai/manifest/revisions", None),
    ("post", "/projects/healthai/manifest/validate", {"yaml": DEMO_MANIFEST}),
    ("put", "/projects/healthai/manifest", {"yaml": DEMO_MANIFEST}),
    ("get", "/projects/healthai/runs", None),
    ("post", "/projects/healthai/runs", {"kind": "analyze"}),
    ("get", "/projects/healthai/runs/{run}", None),
    ("post", "/projects/healthai/runs/{run}/approve", None),
    ("post", "/projects/healthai/runs/{run}/cancel", None),
    ("get", "/projects/healthai/report", None),
    ("get", "/projects/healthai/skills", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROJECT_ROUTES)
def test_outsider_gets_404_on_every_project_route(
    bmad_project, owner, as_outsider, method, path, body
):
    run = Run.objects.create(project=bmad_project, kind=RunKind.ANALYZE, actor=owner)
    response = as_outsider.call(method, path.format(run=run.pk), body)
    assert response.status_code == 404
    assert response.json()["detail"] == "No such project."
    assert ManifestRevision.objects.count() == 1
    assert Run.objects.count() == 1


@pytest.mark.parametrize(("method", "path", "body"), PROJECT_ROUTES)
def test_unknown_project_is_404_like_a_foreign_one(bmad_project, as_owner, method, path, body):
    response = as_owner.call(method, path.replace("healthai", "nope").format(run=1), body)
    assert response.status_code == 404
    assert response.json()["detail"] == "No such project."


def test_project_list_shows_only_permitted_projects(project, owner, outsider, local_repo_dir):
    project_services.project_create(
        actor=outsider, name="Secret", slug="secret", repo_url=str(local_repo_dir)
    )
    body = Api(_token(owner)).get("/projects").json()
    assert [p["slug"] for p in body["items"]] == ["healthai"]
    assert body["count"] == 1


def test_project_list_is_paginated(owner, local_repo_dir):
    for i in range(5):
        project_services.project_create(
            actor=owner, name=f"P{i}", slug=f"p{i}", repo_url=str(local_repo_dir)
        )
    body = Api(_token(owner)).get("/projects?limit=2&offset=2").json()
    assert [p["name"] for p in body["items"]] == ["P2", "P3"]
    assert (body["count"], body["limit"], body["offset"]) == (5, 2, 2)


def test_project_detail_never_carries_credentials(project, owner):
    project_services.project_secret_set(
        actor=owner, project=project, field="forge_token", value="canary-forge-token"
    )
    response = Api(_token(owner)).get("/projects/healthai")
    assert response.status_code == 200
    assert response.json()["slug"] == "healthai"
    assert "canary-forge-token" not in response.content.decode()
    assert "_enc" not in response.content.decode()


# --- Manifests ---------------------------------------------------------------------------


def test_viewer_reads_the_manifest(viewer_of_bmad, as_viewer):
    response = as_viewer.get("/projects/healthai/manifest")
    assert response.status_code == 200
    body = response.json()
    assert body["number"] == 1
    assert body["yaml"] == DEMO_MANIFEST
    assert body["author"] == "olivia"
    assert len(body["sha256"]) == 64


def test_viewer_cannot_save_the_manifest(viewer_of_bmad, as_viewer):
    response = as_viewer.put("/projects/healthai/manifest", {"yaml": DEMO_MANIFEST + "\n"})
    assert response.status_code == 403
    assert "edit manifest" in response.json()["detail"]
    assert ManifestRevision.objects.count() == 1


def test_manifest_of_a_project_without_one_is_404_with_a_reason(project, as_owner):
    response = as_owner.get("/projects/healthai/manifest")
    assert response.status_code == 404
    assert "no manifest yet" in response.json()["detail"]


def test_editor_saves_a_valid_manifest_as_a_new_revision(editor, bmad_project):
    changed = DEMO_MANIFEST.replace("Prefer short", "Prefer very short")
    api = Api(_token(editor))
    response = api.put("/projects/healthai/manifest", {"yaml": changed, "message": "shorter"})
    assert response.status_code == 201
    assert response.json()["number"] == 2
    assert response.json()["author"] == "edith"
    revision = bmad_project.revisions.get(number=2)
    assert revision.yaml_text == changed
    assert revision.message == "shorter"


def test_unchanged_manifest_returns_the_latest_revision_with_200(editor, bmad_project):
    response = Api(_token(editor)).put("/projects/healthai/manifest", {"yaml": DEMO_MANIFEST})
    assert response.status_code == 200
    assert response.json()["number"] == 1
    assert bmad_project.revisions.count() == 1


def test_invalid_manifest_is_422_with_every_error_and_nothing_saved(editor, bmad_project):
    bad = DEMO_MANIFEST.replace("id: dev-leader", "id: Dev_Leader").replace(
        'bmad_version: ">=6.4,<7"', "bmad_version: nonsense"
    )
    response = Api(_token(editor)).put("/projects/healthai/manifest", {"yaml": bad})
    assert response.status_code == 422
    body = response.json()
    assert "nothing was saved" in body["detail"]
    paths = {e["path"] for e in body["errors"]}
    assert {"leaders[0].id", "project.bmad_version"} <= paths
    leader_error = next(e for e in body["errors"] if e["path"] == "leaders[0].id")
    assert (leader_error["line"], leader_error["column"]) == (8, 9)
    assert bmad_project.revisions.count() == 1


def test_validate_reports_errors_with_positions_and_saves_nothing(bmad_project, as_owner):
    response = as_owner.post(
        "/projects/healthai/manifest/validate", {"yaml": "apiVersion: bmadweb/v1\nproject: 3\n"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["errors"][0]["line"] == 2
    assert body["errors"][0]["path"] == "project"
    assert bmad_project.revisions.count() == 1


def test_validate_accepts_a_good_manifest(bmad_project, as_owner):
    response = as_owner.post("/projects/healthai/manifest/validate", {"yaml": DEMO_MANIFEST})
    assert response.json() == {"valid": True, "errors": []}


def test_hostile_yaml_is_refused_cleanly(bmad_project, as_owner):
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    response = as_owner.post("/projects/healthai/manifest/validate", {"yaml": bomb})
    assert response.status_code == 200
    assert response.json()["valid"] is False
    tag = "!!python/object/apply:os.system ['touch /tmp/x']\n"
    response = as_owner.put("/projects/healthai/manifest", {"yaml": tag})
    assert response.status_code == 422


def test_manifest_over_256_kib_is_413(bmad_project, as_owner):
    big = DEMO_MANIFEST + "# " + "x" * (256 * 1024) + "\n"
    response = as_owner.put("/projects/healthai/manifest", {"yaml": big})
    assert response.status_code == 413
    assert "256 KiB" in response.json()["detail"]
    assert bmad_project.revisions.count() == 1


def test_huge_body_is_refused_without_a_500(bmad_project, as_owner):
    response = as_owner.put("/projects/healthai/manifest", {"yaml": "x" * 3_000_000})
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is too large."


@pytest.mark.parametrize(
    "body",
    [
        {"yaml": 3},
        {"yaml": None},
        {"yaml": ["a"]},
        {},
        {"yaml": DEMO_MANIFEST, "admin": True},
        {"yaml": DEMO_MANIFEST, "message": "two\nlines"},
        {"yaml": DEMO_MANIFEST, "message": "m" * 201},
        {"yaml": "a: \ud800"},
        {"yaml": "a: b\x00"},
        [],
        "yaml",
    ],
)
def test_malformed_manifest_bodies_are_4xx_json(bmad_project, as_owner, body):
    response = as_owner.put("/projects/healthai/manifest", body)
    assert response.status_code == 422
    assert response.json()["detail"]
    assert bmad_project.revisions.count() == 1


def test_unparsable_json_is_400(bmad_project, owner):
    response = Client().put(
        f"{API}/projects/healthai/manifest",
        data="{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {_token(owner)}"},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Cannot parse request body"


def test_revisions_are_listed_newest_first_without_yaml(editor, bmad_project):
    api = Api(_token(editor))
    api.put("/projects/healthai/manifest", {"yaml": DEMO_MANIFEST + "# two\n"})
    body = api.get("/projects/healthai/manifest/revisions").json()
    assert [r["number"] for r in body["items"]] == [2, 1]
    assert "yaml" not in body["items"][0]


# --- Runs --------------------------------------------------------------------------------


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
    response = as_owner.post("/projects/healthai/runs", {"kind": "analyze"})
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
    api = Api(_token(editor))
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


def test_run_of_another_project_is_404(bmad_project, owner, local_repo_dir, as_owner):
    other = project_services.project_create(
        actor=owner, name="Other", slug="other", repo_url=str(local_repo_dir)
    )
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
    assert response.status_code == 404


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


# --- Skills and workflows ----------------------------------------------------------------


SKILLS_MANIFEST = """\
apiVersion: bmadweb/v1
project:
  name: healthai
  bmad_version: ">=6.4,<7"
  tools: [claude-code]
leaders:
  - id: dev-leader
    name: Dev Leader
    domain: engineering
    phase: implementation
    description: Routes engineering requests.
    specialists:
      - id: frontend-specialist
        name: Frontend Specialist
        domain: frontend
customizations:
  bmad-agent-pm:
    principles: ["Prefer short PRDs."]
"""


@pytest.fixture
def skills_project(bmad_project, owner):  # type: ignore[no-untyped-def]
    project_services.manifest_save(actor=owner, project=bmad_project, yaml_text=SKILLS_MANIFEST)
    return bmad_project


def test_skills_before_analysis_list_the_declared_ones(skills_project, as_owner):
    body = as_owner.get("/projects/healthai/skills").json()
    assert body["report_run_id"] is None
    assert body["manifest_revision"] == 2
    got = {(s["id"], s["kind"], s["declared"], s["state"]) for s in body["skills"]}
    assert got == {
        ("dev-leader", "leader", True, "not-analysed"),
        ("frontend-specialist", "specialist", True, "not-analysed"),
        ("bmad-agent-pm", "customization", True, "not-analysed"),
    }


def test_skills_after_analysis_carry_the_state_of_their_files(skills_project, owner, as_owner):
    report = {
        "items": [
            {"path": ".claude/skills/dev-leader/SKILL.md", "state": "up-to-date", "kind": "skill"},
            {"path": ".cursor/skills/dev-leader/SKILL.md", "state": "modified", "kind": "skill"},
            {"path": ".claude/skills/old-helper/SKILL.md", "state": "orphaned", "kind": "skill"},
            {
                "path": "_bmad/custom/bmad-agent-pm.toml",
                "state": "missing",
                "kind": "customization",
            },
            {"path": "_bmad/custom/config.toml", "state": "missing", "kind": "agent-registration"},
        ]
    }
    Run.objects.create(
        project=skills_project,
        kind=RunKind.ANALYZE,
        status=RunStatus.SUCCEEDED,
        actor=owner,
        report=report,
    )
    skills = {s["id"]: s for s in as_owner.get("/projects/healthai/skills").json()["skills"]}
    assert skills["dev-leader"]["state"] == "modified"
    assert skills["dev-leader"]["installed"] is True
    assert len(skills["dev-leader"]["paths"]) == 2
    assert (skills["bmad-agent-pm"]["installed"], skills["bmad-agent-pm"]["state"]) == (
        False,
        "missing",
    )
    assert skills["frontend-specialist"]["state"] == "missing"
    assert skills["old-helper"]["kind"] == "installed"
    assert skills["old-helper"]["declared"] is False
    assert "config" not in skills


def test_workflows_list_the_run_kinds(project, as_owner):
    body = as_owner.get("/workflows").json()
    assert [w["kind"] for w in body] == ["analyze", "provision"]
    assert all(w["description"] for w in body)


# --- Rate limit, CORS, OpenAPI -------------------------------------------------------------


def test_sixth_request_over_a_limit_of_five_is_429_with_retry_after(project, owner, redis_conn):
    api = Api(_token(owner))
    with override_settings(API_RATE_LIMIT=5):
        statuses = [api.get("/projects").status_code for _ in range(6)]
        response = api.get("/projects")
    assert statuses == [200] * 5 + [429]
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Rate limit" in response.json()["detail"]


def test_rate_limit_is_per_token(project, owner, redis_conn):
    first, second = Api(_token(owner)), Api(_token(owner))
    with override_settings(API_RATE_LIMIT=2):
        for _ in range(3):
            first.get("/projects")
        assert first.get("/projects").status_code == 429
        assert second.get("/projects").status_code == 200


def test_api_keeps_working_when_redis_is_down(project, owner, tmp_path, caplog):
    api = Api(_token(owner))
    dead = {"default": {"URL": f"unix://{tmp_path}/no-redis.sock?db=0"}}
    with override_settings(RQ_QUEUES=dead, API_RATE_LIMIT=1):
        statuses = [api.get("/projects").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert "rate limit not enforced: Redis unavailable" in caplog.text


def test_cors_preflight_gets_no_allow_origin(project, owner):
    response = Client().options(
        f"{API}/projects",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Headers" not in response


def test_cors_simple_request_gets_no_allow_origin(project, owner):
    response = Api(_token(owner)).get("/projects", Origin="https://evil.example")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_openapi_document_is_served_and_names_bearer_auth(db):
    response = Client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["info"]["title"] == "bmadweb API"
    assert doc["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    assert "/api/v1/projects/{slug}/manifest" in doc["paths"]


def test_docs_page_uses_local_assets_only(db):
    response = Client().get(f"{API}/docs")
    assert response.status_code == 200
    assert "cdn." not in response.content.decode()


def test_unexpected_errors_are_a_generic_500_without_details(bmad_project, owner, caplog):
    """A corrupt stored plan (not the right shape) must not leak a traceback."""
    run = Run.objects.create(
        project=bmad_project,
        kind=RunKind.PROVISION,
        status=RunStatus.AWAITING_APPROVAL,
        actor=owner,
        plan={"operations": "not-a-list", "secret_marker": "canary"},
    )
    response = Api(_token(owner)).get(f"/projects/healthai/runs/{run.pk}")
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal error. It has been logged; please try again later."
    }
    assert "canary" not in response.content.decode()
    assert "unexpected API error" in caplog.text
