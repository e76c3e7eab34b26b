"""Scheduled drift checks: placement with jitter, due checks, busy projects, the cap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from projects import services
from projects.models import Project
from provisioning.models import Run, RunKind, RunStatus, RunTrigger
from provisioning.runs.schedule import drift_checks_start, next_slot_after, offset_seconds
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


def test_offsets_are_deterministic_and_spread() -> None:
    period = 24 * 3600
    offsets = [offset_seconds(pk, period) for pk in range(1, 201)]
    assert offsets == [offset_seconds(pk, period) for pk in range(1, 201)]
    assert len(set(offsets)) > 190  # neighbouring ids do not share a second
    # spread over the whole day: every 3-hour band holds some of them
    assert {o // (3 * 3600) for o in offsets} == set(range(8))


def test_next_slot_is_after_now_and_one_period_apart() -> None:
    now = timezone.now()
    first = next_slot_after(7, 6, now)
    assert now < first <= now + timedelta(hours=6)
    assert next_slot_after(7, 6, first) == first + timedelta(hours=6)


def _due(project: Project, minutes_ago: int = 1) -> None:
    Project.objects.filter(pk=project.pk).update(
        next_drift_check_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def test_a_new_schedule_is_placed_without_starting(make_project, settings) -> None:
    settings.DRIFT_CHECK_DEFAULT_HOURS = 0
    on = make_project(manifest=DEMO_MANIFEST, drift_check_hours=4)
    off = make_project(manifest=DEMO_MANIFEST)  # empty: the default, which is off
    zero = make_project(manifest=DEMO_MANIFEST, drift_check_hours=0)
    assert drift_checks_start() == []
    on.refresh_from_db()
    assert timezone.now() < on.next_drift_check_at <= timezone.now() + timedelta(hours=4)
    for project in (off, zero):
        project.refresh_from_db()
        assert project.next_drift_check_at is None
    assert not Run.objects.exists()


def test_due_projects_get_a_scheduled_analysis_and_their_next_slot(make_project, settings):
    settings.DRIFT_CHECK_DEFAULT_HOURS = 12
    project = make_project(manifest=DEMO_MANIFEST)  # uses the default
    _due(project)
    started = drift_checks_start()
    run = Run.objects.get()
    assert started == [run.pk]
    assert (run.kind, run.trigger, run.project_id) == (
        RunKind.ANALYZE,
        RunTrigger.SCHEDULE,
        project.pk,
    )
    project.refresh_from_db()
    assert timezone.now() < project.next_drift_check_at <= timezone.now() + timedelta(hours=12)
    assert drift_checks_start() == []  # a second tick starts nothing


def test_busy_projects_are_skipped_to_the_next_tick(make_project, settings):
    project = make_project(manifest=DEMO_MANIFEST, drift_check_hours=1)
    _due(project)
    active = Run.objects.create(
        project=project,
        kind=RunKind.PROVISION,
        manifest_revision=project.revisions.first(),
        job_id="x",
    )
    assert drift_checks_start() == []
    due_at = Project.objects.get(pk=project.pk).next_drift_check_at
    assert due_at < timezone.now()  # still due
    Run.objects.filter(pk=active.pk).update(status=RunStatus.SUCCEEDED)
    assert len(drift_checks_start()) == 1


def test_a_project_without_manifest_is_skipped_to_its_next_slot(make_project):
    project = make_project(drift_check_hours=2)
    _due(project)
    assert drift_checks_start() == []
    project.refresh_from_db()
    assert project.next_drift_check_at > timezone.now()


def test_one_tick_starts_at_most_the_cap_most_overdue_first(make_project, settings):
    settings.DRIFT_CHECK_MAX_PER_TICK = 2
    projects = [make_project(manifest=DEMO_MANIFEST, drift_check_hours=1) for _ in range(3)]
    for minutes, project in zip((5, 30, 10), projects, strict=True):
        _due(project, minutes)
    drift_checks_start()
    assert set(Run.objects.values_list("project_id", flat=True)) == {
        projects[1].pk,
        projects[2].pk,
    }
    drift_checks_start()
    assert Run.objects.count() == 3


def test_changing_the_interval_places_the_schedule_again(make_project, owner):
    project = make_project(manifest=DEMO_MANIFEST, drift_check_hours=3)
    drift_checks_start()
    project.refresh_from_db()
    assert project.next_drift_check_at is not None
    services.project_update(actor=owner, project=project, drift_check_hours=0)
    project.refresh_from_db()
    assert project.next_drift_check_at is None


def test_the_settings_page_sets_the_interval(client, owner, project):
    client.force_login(owner)
    url = f"/p/{project.slug}/settings/"
    form = {
        "name": project.name,
        "repo_url": project.repo_url,
        "default_branch": "main",
        "forge_kind": project.forge_kind,
        "forge_api_url": "",
        "push_mode": project.push_mode,
        "drift_check_hours": "6",
    }
    assert client.post(url, form).status_code == 302
    project.refresh_from_db()
    assert project.drift_check_hours == 6
    assert b"Scheduled drift checks" in client.get(url).content


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("2161", "less than or equal to 2160"),
        ("-1", "greater than or equal to 0"),
        ("abc", "Enter a whole number"),
    ],
)
def test_the_settings_page_refuses_a_bad_interval(client, owner, make_project, value, error):
    project = make_project(manifest=DEMO_MANIFEST, drift_check_hours=6)
    client.force_login(owner)
    url = f"/p/{project.slug}/settings/"
    form = {
        "name": project.name,
        "repo_url": project.repo_url,
        "default_branch": "main",
        "forge_kind": project.forge_kind,
        "forge_api_url": "",
        "push_mode": project.push_mode,
        "drift_check_hours": value,
    }
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, with its error
    errors = response.context["form"].errors
    assert list(errors) == ["drift_check_hours"]
    assert error in errors["drift_check_hours"][0]
    assert error in response.content.decode()
    project.refresh_from_db()
    assert project.drift_check_hours == 6


def test_a_scheduler_tick_runs_the_due_check_to_the_end(
    bmad_project, redis_conn, run_worker, django_capture_on_commit_callbacks
):
    from django_rq.cron import DjangoCronScheduler

    Project.objects.filter(pk=bmad_project.pk).update(drift_check_hours=24)
    _due(bmad_project)
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("provisioning.scheduler")
    scheduler.enqueue_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        run_worker()  # the drift check job; its run is enqueued on commit
    run_worker()  # the analysis
    run = Run.objects.get(project=bmad_project)
    assert (run.trigger, run.status) == (RunTrigger.SCHEDULE, RunStatus.SUCCEEDED)


def test_a_settings_save_never_writes_back_the_schedulers_next_check(make_project, owner):
    """The page read the row before the scheduler moved the next check on: saving
    another setting must not put the old, already-used slot back."""
    project = make_project(manifest=DEMO_MANIFEST, drift_check_hours=6)
    now = timezone.now()
    Project.objects.filter(pk=project.pk).update(next_drift_check_at=now - timedelta(minutes=1))
    stale = Project.objects.get(pk=project.pk)  # what the settings page loaded
    assert len(drift_checks_start(now=now)) == 1  # the scheduler claims the due check
    moved = Project.objects.get(pk=project.pk).next_drift_check_at
    assert moved is not None
    assert moved > now
    services.project_update(actor=owner, project=stale, name="Renamed")
    fresh = Project.objects.get(pk=project.pk)
    assert fresh.name == "Renamed"
    assert fresh.next_drift_check_at == moved
    assert Run.objects.filter(trigger=RunTrigger.SCHEDULE).count() == 1
