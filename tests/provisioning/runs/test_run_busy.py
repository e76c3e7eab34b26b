"""One active run per project: every active status blocks a new run (in the service and in
the database), every finished one does not, and the list of active statuses is pinned so
adding a status forces a decision here."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from provisioning.models import ACTIVE_STATUSES, FINISHED_STATUSES, Run, RunKind, RunStatus
from provisioning.runs import services
from provisioning.runs.selectors import run_active_for

pytestmark = pytest.mark.django_db


def _run_in(project, owner, status: RunStatus) -> Run:  # type: ignore[no-untyped-def]
    run = services.run_create(project=project, kind=RunKind.PROVISION, actor=owner, enqueue=False)
    Run.objects.filter(pk=run.pk).update(status=status)
    run.refresh_from_db()
    return run


def test_the_active_statuses_are_exactly_the_four_that_hold_the_project():
    assert set(ACTIVE_STATUSES) == {
        RunStatus.QUEUED,
        RunStatus.RUNNING,
        RunStatus.AWAITING_APPROVAL,
        RunStatus.APPLYING,
    }
    assert set(ACTIVE_STATUSES) | set(FINISHED_STATUSES) == set(RunStatus)
    assert not set(ACTIVE_STATUSES) & set(FINISHED_STATUSES)


@pytest.mark.parametrize("status", ACTIVE_STATUSES)
@pytest.mark.parametrize("kind", list(RunKind))
def test_a_run_in_any_active_status_makes_the_project_busy(bmad_project, owner, status, kind):
    held = _run_in(bmad_project, owner, status)
    target = "6.12.0" if kind == RunKind.UPGRADE else ""
    with pytest.raises(services.RunBusy) as caught:
        services.run_create(project=bmad_project, kind=kind, actor=owner, target_version=target)
    assert caught.value.active == held
    assert f"provision run #{held.pk} is still active" in str(caught.value)
    assert list(Run.objects.values_list("pk", flat=True)) == [held.pk]
    assert run_active_for(bmad_project) == held
    assert held.is_active


@pytest.mark.parametrize("status", [s for s in ACTIVE_STATUSES if s != RunStatus.QUEUED])
def test_coalescing_joins_only_a_queued_run_of_the_same_kind(bmad_project, owner, status):
    _run_in(bmad_project, owner, status)
    with pytest.raises(services.RunBusy):
        services.run_create(
            project=bmad_project, kind=RunKind.PROVISION, actor=owner, coalesce=True
        )
    assert Run.objects.count() == 1


def test_coalescing_a_queued_run_of_the_same_kind_returns_it(bmad_project, owner):
    held = _run_in(bmad_project, owner, RunStatus.QUEUED)
    joined = services.run_create(
        project=bmad_project, kind=RunKind.PROVISION, actor=owner, coalesce=True
    )
    assert joined.pk == held.pk
    with pytest.raises(services.RunBusy):
        services.run_create(project=bmad_project, kind=RunKind.ANALYZE, actor=owner, coalesce=True)


@pytest.mark.parametrize("status", ACTIVE_STATUSES)
@pytest.mark.parametrize("second", ACTIVE_STATUSES)
def test_the_database_refuses_a_second_active_run_whatever_the_statuses(
    bmad_project, owner, status, second
):
    held = _run_in(bmad_project, owner, status)
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(project=bmad_project, kind=RunKind.ANALYZE, status=second)
    assert list(Run.objects.values_list("pk", flat=True)) == [held.pk]


@pytest.mark.parametrize("status", FINISHED_STATUSES)
def test_a_finished_run_leaves_the_project_free(bmad_project, owner, status):
    done = _run_in(bmad_project, owner, status)
    assert run_active_for(bmad_project) is None
    assert not done.is_active
    fresh = services.run_create(project=bmad_project, kind=RunKind.ANALYZE, actor=owner)
    assert fresh.status == RunStatus.QUEUED
    assert run_active_for(bmad_project) == fresh
