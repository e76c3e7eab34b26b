"""The fleet view's pull request counts come from Project.pr_state, kept by the services
that move runs' pull request states or delete runs: in every case they are what the runs
themselves say (each visible project's newest run, by created then id, that has a pull
request state), on the page, in its lists and on the dashboard."""

from __future__ import annotations

import importlib
import re
from collections import Counter
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from projects.models import Project
from projects.roles import Perm
from projects.selectors import project_filter_for
from provisioning.campaigns import selectors
from provisioning.models import PullRequestState, Run, RunKind, RunStatus
from tests.provisioning.campaigns.fleet_helpers import pull_request_run, pull_request_state

pytestmark = pytest.mark.django_db
FLEET = "/fleet/"


def _from_runs(user: Any) -> dict[str, str]:
    """Each visible project's newest pull request state, read from its runs."""
    found = {}
    for project in Project.objects.filter(project_filter_for(user, Perm.VIEW)):
        newest = (
            Run.objects.filter(project=project)
            .exclude(pr_state="")
            .order_by("-created", "-pk")
            .first()
        )
        found[project.slug] = newest.pr_state if newest else ""
    return found


def _check(client: Client, user: Any, expected: dict[str, str]) -> None:
    """The page, its lists, the selector and the dashboard agree with the runs, and the
    runs say `expected`."""
    truth = _from_runs(user)
    assert truth == expected
    counts = Counter(truth.values())
    wanted = [(v, label, counts.get(v, 0)) for v, label in PullRequestState.choices]
    assert selectors.fleet_counts(user).by_pull_request == wanted
    client.force_login(user)
    page = client.get(FLEET).content.decode()
    for state, label, n in wanted:
        if n:
            assert f'aria-label="{n} {label}"' in page, (state, n)
        listed = client.get(f"{FLEET}?pr={state}").content.decode()
        rows = set(re.findall(r'<tr data-project="([^"]+)">', listed.split("fleet-approvals")[0]))
        assert rows == {slug for slug, s in truth.items() if s == state}, state
    dashboard = client.get("/").content.decode()
    for slug, state in truth.items():
        row = dashboard.split(f'href="/p/{slug}/"')[1].split("</tr>")[0]
        assert (f'data-pr-state="{state}"' in row) == bool(state), slug


@pytest.fixture
def projects(make_project):  # type: ignore[no-untyped-def]
    return {slug: make_project(slug=slug, name=slug.title()) for slug in ("a", "b", "c", "d")}


def test_open_merged_closed_and_none(client, projects, owner):  # type: ignore[no-untyped-def]
    pull_request_run(projects["a"], "open")
    pull_request_run(projects["b"], "merged")
    pull_request_run(projects["c"], "closed")
    _check(client, owner, {"a": "open", "b": "merged", "c": "closed", "d": ""})


def test_a_request_moving_moves_its_project(client, projects, owner):  # type: ignore[no-untyped-def]
    run = pull_request_run(projects["a"], "open")
    pull_request_state(projects["a"], run, "merged")
    _check(client, owner, {"a": "merged", "b": "", "c": "", "d": ""})


def test_a_newer_run_without_a_request_keeps_the_last_one(client, projects, owner):  # type: ignore[no-untyped-def]
    pull_request_run(projects["a"], "merged")
    Run.objects.create(project=projects["a"], kind=RunKind.ANALYZE, status=RunStatus.SUCCEEDED)
    Run.objects.create(project=projects["b"], kind=RunKind.PROVISION, status=RunStatus.PUSHED)
    _check(client, owner, {"a": "merged", "b": "", "c": "", "d": ""})


def test_an_older_request_moving_does_not_hide_the_newer_one(client, projects, owner):  # type: ignore[no-untyped-def]
    older = pull_request_run(projects["a"], "open")
    newer = pull_request_run(projects["a"], "open")
    _check(client, owner, {"a": "open", "b": "", "c": "", "d": ""})
    pull_request_state(projects["a"], older, "closed")  # superseded by the newer one
    _check(client, owner, {"a": "open", "b": "", "c": "", "d": ""})
    pull_request_state(projects["a"], newer, "merged")
    _check(client, owner, {"a": "merged", "b": "", "c": "", "d": ""})


def test_deleted_runs_in_the_admin_leave_the_state_of_those_left(  # type: ignore[no-untyped-def]
    client, projects, owner, staff
):
    older = pull_request_run(projects["a"], "closed")
    newest = pull_request_run(projects["a"], "open")
    only = pull_request_run(projects["b"], "merged")
    other = pull_request_run(projects["c"], "merged")
    admin = Client()
    admin.force_login(staff)
    response = admin.post(f"/admin/provisioning/run/{newest.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Run.objects.filter(pk=newest.pk).exists()
    _check(client, owner, {"a": "closed", "b": "merged", "c": "merged", "d": ""})
    response = admin.post(
        "/admin/provisioning/run/",
        {"action": "delete_selected", "_selected_action": [older.pk, only.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert list(Run.objects.values_list("pk", flat=True)) == [other.pk]
    _check(client, owner, {"a": "", "b": "", "c": "merged", "d": ""})


def test_projects_seen_by_someone_else_are_not_counted(  # type: ignore[no-untyped-def]
    client, projects, owner, outsider, make_project
):
    pull_request_run(projects["a"], "open")
    theirs = make_project(slug="theirs", actor=outsider)
    pull_request_run(theirs, "merged")
    _check(client, owner, {"a": "open", "b": "", "c": "", "d": ""})
    _check(client, outsider, {"theirs": "merged"})


def test_the_migration_fills_the_state_from_the_runs(client, projects, owner):  # type: ignore[no-untyped-def]
    pull_request_run(projects["a"], "closed")
    pull_request_run(projects["a"], "merged")
    pull_request_run(projects["b"], "open")
    Run.objects.create(project=projects["b"], kind=RunKind.ANALYZE, status=RunStatus.SUCCEEDED)
    # As the rows stood before the column existed (or with a wrong value left in it).
    Project.objects.update(pr_state="")
    Project.objects.filter(pk=projects["c"].pk).update(pr_state="open")
    migration = importlib.import_module("provisioning.migrations.0015_project_pr_state_fill")
    migration.fill(apps, None)
    _check(client, owner, {"a": "merged", "b": "open", "c": "", "d": ""})
    assert dict(Project.objects.values_list("slug", "pr_state")) == {
        "a": "merged",
        "b": "open",
        "c": "",
        "d": "",
    }
