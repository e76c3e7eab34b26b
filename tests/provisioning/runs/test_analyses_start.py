"""Starting many analyses at once (a fleet's drift checks, docs/performance.md#fleet):
the same runs, audit records and jobs as one `run_create` each, busy projects and
projects without a manifest skipped and named, every job enqueued exactly once, and a
queue outage leaving the runs for the reconciler. Real Redis, RQ's SimpleWorker."""

from __future__ import annotations

import django_rq
import pytest

from bmadweb.models import AuditRecord
from bmadweb.selectors import audit_chain_verify
from provisioning.models import Run, RunKind, RunStatus, RunTrigger
from provisioning.queue import runs_enqueue
from provisioning.runs.services import analyses_start
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


def test_each_project_gets_a_queued_audited_enqueued_analysis(  # type: ignore[no-untyped-def]
    make_project, bmad_remote, owner, redis_conn, run_worker, django_capture_on_commit_callbacks
):
    projects = [
        make_project(repo_url=str(bmad_remote), forge_kind="other", manifest=DEMO_MANIFEST)
        for _ in range(3)
    ]
    audits = AuditRecord.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        started = analyses_start(projects, trigger=RunTrigger.SCHEDULE, actor=owner)
    assert [run.project_id for run in started.runs] == [p.pk for p in projects]
    assert started.busy == started.without_manifest == []
    for run in Run.objects.filter(pk__in=[r.pk for r in started.runs]):
        assert (run.kind, run.trigger, run.status) == (
            RunKind.ANALYZE,
            RunTrigger.SCHEDULE,
            RunStatus.QUEUED,
        )
        assert run.manifest_revision == run.project.revisions.get()
        assert run.actor == owner
        assert run.job_id.startswith(f"run-{run.pk}-")
    created = AuditRecord.objects.order_by("seq")[audits:]
    assert [record.action for record in created] == ["run.create"] * 3
    assert audit_chain_verify().ok
    assert django_rq.get_queue("default").count == 3
    run_worker()
    statuses = set(Run.objects.values_list("status", flat=True))
    assert statuses == {RunStatus.SUCCEEDED}


def test_busy_projects_and_projects_without_a_manifest_are_skipped_and_named(  # type: ignore[no-untyped-def]
    make_project, redis_conn, django_capture_on_commit_callbacks
):
    busy = make_project(manifest=DEMO_MANIFEST)
    bare = make_project()
    ready = make_project(manifest=DEMO_MANIFEST)
    Run.objects.create(
        project=busy, kind=RunKind.PROVISION, manifest_revision=busy.revisions.get(), job_id="x"
    )
    with django_capture_on_commit_callbacks(execute=True):
        started = analyses_start(
            [busy, bare, ready], trigger=RunTrigger.SCHEDULE, require_manifest=True
        )
    assert [run.project_id for run in started.runs] == [ready.pk]
    assert started.busy == [busy.pk]
    assert started.without_manifest == [bare.pk]
    with django_capture_on_commit_callbacks(execute=True):
        audit = analyses_start([bare], trigger=RunTrigger.MANUAL)  # an install audit
    assert [run.manifest_revision for run in audit.runs] == [None]


def test_jobs_are_enqueued_exactly_once(  # type: ignore[no-untyped-def]
    make_project, redis_conn, django_capture_on_commit_callbacks
):
    projects = [make_project(manifest=DEMO_MANIFEST) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=False):  # not enqueued yet
        started = analyses_start(projects, trigger=RunTrigger.SCHEDULE)
    ids = [run.pk for run in started.runs]
    assert runs_enqueue(run_ids=ids) == ids
    assert runs_enqueue(run_ids=ids) == []  # claimed already (the reconciler, a retry)
    assert django_rq.get_queue("default").count == 2


def test_with_the_queue_down_the_runs_wait_for_the_reconciler(  # type: ignore[no-untyped-def]
    make_project,
    redis_down,
    django_capture_on_commit_callbacks,
):
    projects = [make_project(manifest=DEMO_MANIFEST) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        started = analyses_start(projects, trigger=RunTrigger.SCHEDULE)
    for run in Run.objects.filter(pk__in=[r.pk for r in started.runs]):
        assert run.status == RunStatus.QUEUED
        assert run.job_id == ""  # the claim is released: the reconciler enqueues it
        messages = list(run.log_entries.values_list("message", flat=True))
        assert any("Queue unavailable" in message for message in messages)
