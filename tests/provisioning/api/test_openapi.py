"""The API as a whole: no CORS headers, the OpenAPI document and a docs page on local
assets, and a generic 500 that leaks nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from provisioning.models import Run, RunKind, RunStatus
from tests.provisioning.api.api_helpers import API, Api, token_for

pytestmark = pytest.mark.django_db


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
    response = Api(token_for(owner)).get("/projects", Origin="https://evil.example")
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
    response = Api(token_for(owner)).get(f"/projects/healthai/runs/{run.pk}")
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal error. It has been logged; please try again later."
    }
    assert "canary" not in response.content.decode()
    assert "unexpected API error" in caplog.text
