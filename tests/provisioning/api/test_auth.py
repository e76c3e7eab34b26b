"""REST API authentication (provisioning.api.auth): bearer tokens only (no query string,
cookie or session), expired and revoked tokens refused, and each scope allowing only its
own calls."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from bmadweb.models import ApiToken
from bmadweb.tokens import token_revoke
from provisioning.models import Run
from tests.provisioning.api.api_helpers import API, Api, token_for
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


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
    raw = token_for(owner)
    ApiToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert Api(raw).get("/projects").status_code == 401


def test_revoked_token_is_401(project, owner):
    raw = token_for(owner)
    token_revoke(token=ApiToken.objects.get(), actor=owner)
    assert Api(raw).get("/projects").status_code == 401


def test_token_in_query_string_is_ignored(project, owner):
    raw = token_for(owner)
    client = Client()
    assert client.get(f"{API}/projects?token={raw}&access_token={raw}").status_code == 401


def test_token_in_cookie_is_ignored(project, owner):
    raw = token_for(owner)
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
        headers={"Authorization": f"Bearer {token_for(owner)}"},
    )
    assert response.status_code == 200


# --- Scopes ------------------------------------------------------------------------------


def test_read_only_token_cannot_save_manifest(bmad_project, owner):
    api = Api(token_for(owner, scopes=["read"]))
    response = api.put("/projects/healthai/manifest", {"yaml": DEMO_MANIFEST})
    assert response.status_code == 403
    assert "'write' scope" in response.json()["detail"]


def test_read_only_token_cannot_start_a_run(bmad_project, owner):
    api = Api(token_for(owner, scopes=["read"]))
    response = api.post("/projects/healthai/runs", {"kind": "analyze"})
    assert response.status_code == 403
    assert Run.objects.count() == 0


def test_write_only_token_cannot_read(bmad_project, owner):
    api = Api(token_for(owner, scopes=["write"]))
    assert api.get("/projects/healthai").status_code == 403


def test_run_scope_without_read_still_starts_runs(bmad_project, owner):
    api = Api(token_for(owner, scopes=["run"]))
    assert api.post("/projects/healthai/runs", {"kind": "analyze"}).status_code == 201
