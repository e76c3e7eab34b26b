"""The fleet view: counts by sync status, BMAD version and pull request state, the
repositories behind each count, approvals waiting for the caller, running campaigns;
permissions, and a query count that does not grow with the number of projects."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects import services as project_services
from projects.models import Project, SyncStatus
from projects.roles import Role
from provisioning.models import Campaign, CampaignItem, Run, RunKind, RunStatus
from tests.provisioning.campaigns.fleet_helpers import pull_request_run

pytestmark = pytest.mark.django_db
FLEET = "/fleet/"


def _state(project: Project, status: str, version: str) -> None:
    Project.objects.filter(pk=project.pk).update(sync_status=status, bmad_version=version)


def _counts(page: str, attr: str, value: str) -> str:
    row = re.search(rf'<tr {attr}="{re.escape(value)}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {attr}={value}"
    return re.sub(r"<[^>]+>", "", row.group(1).split('class="count">')[1]).strip()


@pytest.fixture
def fleet(make_project, owner):  # type: ignore[no-untyped-def]
    projects = {
        slug: make_project(slug=slug, name=slug.title())
        for slug in ("alpha", "beta", "gamma", "delta")
    }
    _state(projects["alpha"], SyncStatus.IN_SYNC, "6.4.0")
    _state(projects["beta"], SyncStatus.DRIFT, "6.4.0")
    _state(projects["gamma"], SyncStatus.DRIFT, "6.2.1")
    return projects


def test_counts_by_status_and_version_link_to_their_repositories(client, fleet, owner):  # type: ignore[no-untyped-def]
    client.force_login(owner)
    page = client.get(FLEET).content.decode()
    assert _counts(page, "data-status", "drift") == "2"
    assert _counts(page, "data-status", "in_sync") == "1"
    assert _counts(page, "data-status", "never") == "1"
    assert _counts(page, "data-status", "conflict") == "0"
    assert _counts(page, "data-version", "6.4.0") == "2"
    assert _counts(page, "data-version", "6.2.1") == "1"
    assert _counts(page, "data-version", "none") == "1"
    assert page.index('data-version="6.4.0"') < page.index('data-version="6.2.1"')
    assert 'href="?status=drift"' in page
    assert 'href="?version=6.4.0"' in page
    assert "fleet-projects" not in page  # no list until a count is chosen

    def listed(query: str) -> set[str]:
        found = client.get(FLEET + query).content.decode()
        return set(re.findall(r'<tr data-project="([^"]+)">', found.split("fleet-approvals")[0]))

    assert listed("?status=drift") == {"beta", "gamma"}
    assert listed("?version=6.4.0") == {"alpha", "beta"}
    assert listed("?version=none") == {"delta"}
    assert listed("?status=drift&version=6.4.0") == {"beta"}
    assert listed("?status=bogus") == set()  # an unknown status is no filter: no list


def test_pull_request_counts_follow_the_newest_pull_request(client, fleet, owner):  # type: ignore[no-untyped-def]
    for slug, state in (("alpha", "merged"), ("beta", "open")):
        pull_request_run(fleet[slug], state)
    client.force_login(owner)
    page = client.get(FLEET).content.decode()
    assert 'aria-label="1 Merged"' in page
    assert 'aria-label="1 Open"' in page
    merged = client.get(FLEET + "?pr=merged").content.decode()
    assert 'data-project="alpha"' in merged
    assert 'data-project="beta"' not in merged
    assert 'data-pr-state="merged"' in merged


def test_an_outsider_sees_nothing_of_projects_they_cannot_view(  # type: ignore[no-untyped-def]
    client, fleet, owner, outsider, make_project
):
    mine = make_project(slug="mine", actor=outsider)
    _state(mine, SyncStatus.CONFLICT, "6.0.0")
    run = Run.objects.create(
        project=fleet["alpha"], kind=RunKind.PROVISION, status=RunStatus.AWAITING_APPROVAL
    )
    campaign = Campaign.objects.create(name="secret-wave", kind="provision", created_by=owner)
    CampaignItem.objects.create(campaign=campaign, project=fleet["alpha"], run=run)
    client.force_login(outsider)
    page = client.get(FLEET).content.decode()
    assert _counts(page, "data-status", "drift") == "0"
    assert _counts(page, "data-status", "conflict") == "1"
    assert 'data-version="6.4.0"' not in page
    assert "secret-wave" not in page
    assert "Nothing waits for you." in page
    for query in ("?status=drift", "?version=6.4.0", "?status=never"):
        listed = client.get(FLEET + query).content.decode()
        assert not any(slug in listed for slug in ("alpha", "beta", "gamma", "delta")), query
    assert Client().get(FLEET).status_code == 302  # anonymous: sign in first


def test_awaiting_my_approval_lists_only_projects_where_i_am_approver(  # type: ignore[no-untyped-def]
    client, fleet, owner, viewer
):
    project_services.role_grant(
        actor=owner, project=fleet["alpha"], role=Role.APPROVER, user=viewer
    )
    project_services.role_grant(actor=owner, project=fleet["beta"], role=Role.VIEWER, user=viewer)
    project_services.role_grant(
        actor=owner, project=fleet["gamma"], role=Role.OPERATOR, user=viewer
    )
    campaign = Campaign.objects.create(name="wave-1", kind="provision", created_by=owner)
    for slug in ("alpha", "beta", "gamma"):
        run = Run.objects.create(
            project=fleet[slug],
            kind=RunKind.PROVISION,
            status=RunStatus.AWAITING_APPROVAL,
            campaign=campaign,
        )
        CampaignItem.objects.create(campaign=campaign, project=fleet[slug], run=run)
    Run.objects.create(project=fleet["delta"], kind=RunKind.PROVISION, status=RunStatus.PUSHED)
    client.force_login(viewer)
    page = client.get(FLEET).content.decode()
    approvals = page.split('id="fleet-approvals"')[1].split('id="fleet-campaigns"')[0]
    assert re.findall(r'data-project="([^"]+)"', approvals) == ["alpha"]
    assert "wave-1" in approvals
    campaigns = page.split('id="fleet-campaigns"')[1]
    assert "wave-1" in campaigns
    assert "0/3" in campaigns
    client.force_login(owner)  # the owner holds every role, approver included
    page = client.get(FLEET).content.decode()
    approvals = page.split('id="fleet-approvals"')[1].split('id="fleet-campaigns"')[0]
    assert sorted(re.findall(r'data-project="([^"]+)"', approvals)) == ["alpha", "beta", "gamma"]


def _shape(sql: str) -> str:
    return re.sub(r"'[^']*'|\b\d+\b", "?", sql)


def _queries(client: Client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return [_shape(q["sql"]) for q in captured.captured_queries]


def test_the_fleet_page_costs_the_same_queries_for_one_project_or_many(  # type: ignore[no-untyped-def]
    client, make_project, owner
):
    def add(first: int, count: int) -> None:
        for i in range(first, first + count):
            project = make_project(slug=f"p-{i:03d}")
            _state(project, SyncStatus.DRIFT, f"6.{i % 3}.0")
            run = pull_request_run(project, "open", status=RunStatus.AWAITING_APPROVAL)
            campaign = Campaign.objects.create(name=f"c{i}", kind="provision", created_by=owner)
            CampaignItem.objects.create(campaign=campaign, project=project, run=run)

    client.force_login(owner)
    paths = (FLEET, FLEET + "?status=drift", FLEET + "?version=6.1.0", FLEET + "?pr=open")
    add(0, 1)
    for path in paths:
        _queries(client, path)  # warm the per-process caches
    one = [_queries(client, path) for path in paths]
    add(1, 30)
    many = [_queries(client, path) for path in paths]
    for path, small, large in zip(paths, one, many, strict=True):
        repeated = (Counter(large) - Counter(small)).most_common(3)
        assert len(large) == len(small), f"{path}: {len(small)} → {len(large)}: {repeated}"
    page = client.get(FLEET + "?status=drift").content.decode()
    assert page.count("data-project=") >= 31
    assert reverse("campaigns:fleet") == FLEET
