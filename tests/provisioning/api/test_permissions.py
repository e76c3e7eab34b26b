"""The same permissions as the UI: an outsider gets 404 on every project route, like an
unknown project; the project list shows only permitted projects, paginated, and no
credentials."""

from __future__ import annotations

import pytest

from projects import services as project_services
from projects.models import ManifestRevision
from provisioning.models import Run, RunKind
from tests.provisioning.api.api_helpers import Api, token_for
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


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


def test_project_list_shows_only_permitted_projects(project, owner, outsider, make_project):
    make_project(actor=outsider)
    body = Api(token_for(owner)).get("/projects").json()
    assert [p["slug"] for p in body["items"]] == ["healthai"]
    assert body["count"] == 1


def test_project_list_is_paginated(owner, make_project):
    for i in range(5):
        make_project(name=f"P{i}")
    body = Api(token_for(owner)).get("/projects?limit=2&offset=2").json()
    assert [p["name"] for p in body["items"]] == ["P2", "P3"]
    assert (body["count"], body["limit"], body["offset"]) == (5, 2, 2)


def test_project_detail_never_carries_credentials(project, owner):
    project_services.project_secret_set(
        actor=owner, project=project, field="forge_token", value="canary-forge-token"
    )
    response = Api(token_for(owner)).get("/projects/healthai")
    assert response.status_code == 200
    assert response.json()["slug"] == "healthai"
    assert "canary-forge-token" not in response.content.decode()
    assert "_enc" not in response.content.decode()
