"""Manifests through the API: viewers read, editors save new revisions, invalid or hostile
manifests are refused with every error and nothing saved, oversized bodies get 413."""

from __future__ import annotations

import pytest
from django.test import Client

from projects.models import ManifestRevision
from tests.provisioning.api.api_helpers import API, Api, token_for
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


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
    api = Api(token_for(editor))
    response = api.put("/projects/healthai/manifest", {"yaml": changed, "message": "shorter"})
    assert response.status_code == 201
    assert response.json()["number"] == 2
    assert response.json()["author"] == "edith"
    revision = bmad_project.revisions.get(number=2)
    assert revision.yaml_text == changed
    assert revision.message == "shorter"


def test_unchanged_manifest_returns_the_latest_revision_with_200(editor, bmad_project):
    response = Api(token_for(editor)).put("/projects/healthai/manifest", {"yaml": DEMO_MANIFEST})
    assert response.status_code == 200
    assert response.json()["number"] == 1
    assert bmad_project.revisions.count() == 1


def test_invalid_manifest_is_422_with_every_error_and_nothing_saved(editor, bmad_project):
    bad = DEMO_MANIFEST.replace("id: dev-leader", "id: Dev_Leader").replace(
        'bmad_version: ">=6.4,<7"', "bmad_version: nonsense"
    )
    response = Api(token_for(editor)).put("/projects/healthai/manifest", {"yaml": bad})
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
        headers={"Authorization": f"Bearer {token_for(owner)}"},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Cannot parse request body"


def test_revisions_are_listed_newest_first_without_yaml(editor, bmad_project):
    api = Api(token_for(editor))
    api.put("/projects/healthai/manifest", {"yaml": DEMO_MANIFEST + "# two\n"})
    body = api.get("/projects/healthai/manifest/revisions").json()
    assert [r["number"] for r in body["items"]] == [2, 1]
    assert "yaml" not in body["items"][0]
