"""NUL and text that is not valid Unicode are a 400 everywhere, never a 500
(docs/security.md#s23): every route of the urlconf, with a NUL in each query parameter
the code reads, in a form field, in a header, a cookie and the path.

PostgreSQL refuses NUL in text, and no database stores a lone surrogate, so without the
guard a search, the audit filter or the sign-in form crash on PostgreSQL. The routes are
read from the urlconf and the parameter names from the source, so a new route or a new
parameter is covered the day it lands.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from provisioning.api.schemas import PageQuery, RunQuery
from tests.test_url_permissions import Route, all_routes, world  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
NUL = "a\x00b"


def _parameter_names() -> list[str]:
    """Every query parameter the code reads: request.GET look-ups and the API's queries."""
    names = {"next", "page"}  # read by Django's sign-in view and the paginators
    pattern = re.compile(r"GET(?:\.get|\.getlist|\[)\(?\s*\"(\w+)\"")
    for package in ("bmadweb", "projects", "provisioning"):
        for path in (ROOT / package).rglob("*.py"):
            names.update(pattern.findall(path.read_text()))
    names.update(PageQuery.model_fields, RunQuery.model_fields)
    return sorted(names)


def test_the_parameter_list_is_read_from_the_code():
    names = _parameter_names()
    # the dashboard search, the audit filter, the run filters, the API's paging
    assert {"q", "status", "project", "kind", "a", "b", "limit", "offset"} <= set(names)


def _routes() -> list[Route]:
    return [route for route in all_routes() if route.plain]


@pytest.fixture
def signed_in(staff, world) -> Client:  # noqa: F811
    client = Client()
    client.force_login(staff)
    return client


# Identifiers of the RQ dashboard's routes: its first queue (a missing one is its 500).
THIRD_PARTY_VALUES = {"queue_index": 0}


def _paths(world) -> list[str]:  # noqa: F811
    return [route.path({**THIRD_PARTY_VALUES, **world.foreign}) for route in _routes()]


def test_a_nul_in_any_query_parameter_of_any_route_is_400(signed_in, world):  # noqa: F811
    problems = []
    names = _parameter_names()
    for path in _paths(world):
        for name in names:
            status = signed_in.get(path, QUERY_STRING=f"{name}=a%00b").status_code
            if status != 400:
                problems.append(f"GET {path}?{name}=a%00b → {status}")
        # An encoded surrogate is not UTF-8: Django decodes it as U+FFFD, never a crash.
        # (The admin's routes are filled with made-up ids, and the RQ dashboard answers
        # 500 for a worker or job that does not exist whatever the query: the admin gets
        # the NUL check only.)
        if path.startswith("/admin/"):
            continue
        query = "&".join(f"{name}=%ED%A0%80" for name in names)
        status = signed_in.get(path, QUERY_STRING=query).status_code
        if status == 500:  # (readiness may say 503: that is its answer, not a crash)
            problems.append(f"GET {path}?{query} → {status}")
    assert not problems, "\n".join(problems[:40])


def test_a_nul_in_a_parameter_name_is_400(signed_in, world):  # noqa: F811
    for path in _paths(world)[:5]:
        assert signed_in.get(path, {"q\x00": "x"}).status_code == 400


def test_a_nul_in_any_form_field_of_any_form_route_is_400(signed_in, world):  # noqa: F811
    problems = []
    for route in _routes():
        if route.route.startswith(("hooks/", "api/")):
            continue  # raw bodies: the receiver's and the API's own checks (below)
        path = route.path({**THIRD_PARTY_VALUES, **world.foreign})
        for field in ("username", "password", "q", "name", "repo_url", "yaml", "message"):
            status = signed_in.post(path, {field: NUL}).status_code
            if status != 400:
                problems.append(f"POST {path} {field}=NUL → {status}")
    assert not problems, "\n".join(problems[:40])


def test_sign_in_with_a_nul_is_400_before_any_lookup(client, owner):
    for data in (
        {"username": "oli\x00via", "password": "x"},
        {"username": "olivia", "password": "x\x00"},
    ):
        response = client.post("/login/", data)
        assert response.status_code == 400
    from axes.models import AccessAttempt

    assert not AccessAttempt.objects.exists()


def test_the_dashboard_search_and_the_audit_filter_refuse_a_nul(signed_in):
    assert signed_in.get("/", {"q": NUL}).status_code == 400
    assert signed_in.get("/audit", {"project": NUL}).status_code == 400


def test_a_nul_in_a_header_or_cookie_is_400(client, owner):
    assert client.get("/login/", HTTP_X_FORWARDED_FOR="1.2.3.4\x00").status_code == 400
    client.cookies["sessionid"] = "abc\x00def"
    assert client.get("/login/").status_code == 400


def test_a_nul_in_the_path_is_400(signed_in, world):  # noqa: F811
    problems = []
    for route in _routes():
        if "slug" not in route.kwargs:
            continue
        values = {**THIRD_PARTY_VALUES, **world.foreign, "slug": world.foreign["slug"] + "%00"}
        path = route.path(values)
        status = signed_in.get(path).status_code
        if status not in (400, 404):  # a converter that refuses the segment: 404
            problems.append(f"GET {path} → {status}")
    assert not problems, "\n".join(problems)


def test_api_paths_and_queries_answer_json(client):
    response = client.get("/api/v1/projects", {"limit": NUL})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The request carries a NUL")


def test_ordinary_requests_pass_the_guard(signed_in):
    assert signed_in.get("/", {"q": "health ai"}).status_code == 200
