"""The dashboard costs the same number of queries for 1 project as for 200 (§9): no
per-row lookups for the last run, status or permissions."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from projects.models import Membership, Project
from projects.roles import Perm, Role
from projects.views import DASHBOARD_PAGE_SIZE
from provisioning.models import Run, RunKind, RunStatus

pytestmark = pytest.mark.django_db


def _projects_with_runs(user: Any, first: int, count: int) -> list[Project]:
    """`count` projects the user owns (role row and object permissions), one run each."""
    projects = Project.objects.bulk_create(
        Project(
            name=f"Project {i:04d}",
            slug=f"project-{i:04d}",
            repo_url=f"https://git.example.test/org/repo-{i}.git",
        )
        for i in range(first, first + count)
    )
    Membership.objects.bulk_create(
        Membership(project=p, user=user, role=Role.OWNER) for p in projects
    )
    chosen = Project.objects.filter(pk__in=[p.pk for p in projects])
    for perm in Perm:
        assign_perm(f"projects.{perm}", user, chosen)
    Run.objects.bulk_create(
        Run(project=p, kind=RunKind.ANALYZE, status=RunStatus.SUCCEEDED) for p in projects
    )
    return projects


def _shape(sql: str) -> str:
    """The query without its literals, so repeated per-row queries look alike."""
    return re.sub(r"'[^']*'|\b\d+\b", "?", sql)


def _dashboard_queries(client: Client) -> tuple[list[str], str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/")
    assert response.status_code == 200
    return [_shape(q["sql"]) for q in captured.captured_queries], response.content.decode()


def test_dashboard_queries_do_not_grow_with_the_number_of_projects(owner: Any) -> None:
    client = Client()
    client.force_login(owner)
    _dashboard_queries(client)  # warm the per-process caches (content types)
    _projects_with_runs(owner, 0, 1)
    one, page = _dashboard_queries(client)
    assert page.count("badge-succeeded") == 1

    _projects_with_runs(owner, 1, 199)
    many, page = _dashboard_queries(client)
    # every row of the first page rendered with its last run
    assert page.count("badge-succeeded") == DASHBOARD_PAGE_SIZE
    repeated = (Counter(many) - Counter(one)).most_common(3)
    assert len(many) == len(one), f"{len(one)} queries for 1 project, {len(many)}: {repeated}"


def test_run_list_queries_do_not_grow_with_the_number_of_runs(owner: Any) -> None:
    client = Client()
    client.force_login(owner)
    (project,) = _projects_with_runs(owner, 0, 1)
    url = f"/p/{project.slug}/runs/"
    client.get(url)  # warm the per-process caches

    def queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return [_shape(q["sql"]) for q in captured.captured_queries]

    one = queries()
    Run.objects.bulk_create(
        Run(project=project, kind=RunKind.PROVISION, status=RunStatus.PUSHED, actor=owner)
        for _ in range(29)
    )
    many = queries()
    repeated = (Counter(many) - Counter(one)).most_common(3)
    assert len(many) == len(one), f"{len(one)} queries for 1 run, {len(many)}: {repeated}"


def _page_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_member_and_audit_pages_do_not_grow_with_their_rows(
    owner: Any, django_user_model: Any
) -> None:
    from bmadweb.audit import audit_record

    (project,) = _projects_with_runs(owner, 0, 1)
    client = Client()
    client.force_login(owner)
    audit_record(action="test.row", actor=owner, project=project)
    members, audit = f"/p/{project.slug}/members/", f"/p/{project.slug}/audit/"
    _page_queries(client, members)  # warm the per-process caches (content types)
    before = _page_queries(client, members), _page_queries(client, audit)
    for i in range(20):
        user = django_user_model.objects.create_user(f"member{i}")
        Membership.objects.create(project=project, user=user, role=Role.VIEWER)
        audit_record(action="test.row", actor=user, project=project, payload={"i": i})
    assert (_page_queries(client, members), _page_queries(client, audit)) == before


def test_webhook_page_and_its_polled_list_do_not_grow_with_deliveries(owner: Any) -> None:
    from provisioning.models import WebhookDelivery

    (project,) = _projects_with_runs(owner, 0, 1)
    client = Client()
    client.force_login(owner)
    page = f"/p/{project.slug}/webhook/"
    htmx = {"HX-Request": "true", "HX-Target": "deliveries"}

    def deliveries(n: int) -> None:
        run = Run.objects.create(project=project, kind=RunKind.ANALYZE, status=RunStatus.SUCCEEDED)
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                project=project,
                provider="github",
                delivery_id=f"d{n}-{i}",
                outcome="accepted",
                signature_ok=True,  # the page lists signed deliveries
                run=run,
                pending=True,  # settling: the list polls
            )
            for i in range(10)
        )

    deliveries(1)
    _page_queries(client, page)  # warm the per-process caches
    with CaptureQueriesContext(connection) as small_list:
        client.get(page, headers=htmx)
    before = _page_queries(client, page), len(small_list)
    deliveries(2)
    deliveries(3)
    with CaptureQueriesContext(connection) as long_list:
        assert 'hx-trigger="every 2s"' in client.get(page, headers=htmx).content.decode()
    assert (_page_queries(client, page), len(long_list)) == before
