"""Starting many analyses at once (a fleet's drift checks, docs/performance.md#fleet):
the same runs, audit records and jobs as one `run_create` each, busy projects and
projects without a manifest skipped and named, every job enqueued exactly once, and a
queue outage leaving the runs for the reconciler. Real Redis, RQ's SimpleWorker."""

from __future__ import annotations

import random

import django_rq
import pytest
from rq import Worker

from bmadweb.models import AuditRecord
from bmadweb.selectors import audit_chain_verify
from provisioning.models import Run, RunKind, RunStatus, RunTrigger
from provisioning.queue import run_batches, runs_enqueue
from provisioning.runs.services import analyses_start
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


def test_each_project_gets_a_queued_audited_enqueued_analysis(  # type: ignore[no-untyped-def]
    make_project,
    bmad_remote,
    owner,
    redis_conn,
    run_worker,
    django_capture_on_commit_callbacks,
    settings,
):
    settings.RUN_BATCH_SIZE = 2  # three runs: a job of two and a job of one
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
    jobs = [Run.objects.get(pk=run.pk).job_id for run in started.runs]
    assert jobs[0] == jobs[1] != jobs[2]  # in the order given, two runs a job
    assert all(job.startswith("runs-") for job in jobs)
    created = AuditRecord.objects.order_by("seq")[audits:]
    assert [record.action for record in created] == ["run.create"] * 3
    assert audit_chain_verify().ok
    queue = django_rq.get_queue("default")
    assert queue.count == 2
    assert sorted(len(job.args[0]) for job in queue.get_jobs()) == [1, 2]
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
    [job] = django_rq.get_queue("default").get_jobs()  # one batch
    assert job.args == (ids,)
    assert set(Run.objects.filter(pk__in=ids).values_list("job_id", flat=True)) == {job.id}


def test_batches_shrink_at_the_end_so_the_workers_finish_together() -> None:
    ids = list(range(100, 120))
    sizes = [len(b) for b in run_batches(ids, size=8, workers=2)]
    assert sizes == [8, 6, 3, 2, 1]  # a worker's share of what is left, at most 8
    assert [len(b) for b in run_batches(ids, size=8, workers=1)] == [8, 8, 4]
    assert [len(b) for b in run_batches(ids, size=8, workers=0)] == [8, 8, 4]
    assert [len(b) for b in run_batches(ids, size=0, workers=3)] == [1] * 20
    rng = random.Random(16)
    for _ in range(300):
        ids = rng.sample(range(10_000), rng.randint(0, 60))
        size, workers = rng.randint(1, 12), rng.randint(1, 6)
        batches = run_batches(ids, size=size, workers=workers)
        assert [i for b in batches for i in b] == ids  # every run once, in order
        assert all(1 <= len(b) <= size for b in batches)
        lengths = [len(b) for b in batches]
        assert lengths == sorted(lengths, reverse=True)


def test_the_batches_follow_the_workers_listening_on_the_queue(  # type: ignore[no-untyped-def]
    make_project, redis_conn, django_capture_on_commit_callbacks, settings
):
    settings.RUN_BATCH_SIZE = 8
    queue = django_rq.get_queue("default")
    for name in ("w1", "w2"):
        Worker([queue], name=name, connection=queue.connection).register_birth()
    projects = [make_project(manifest=DEMO_MANIFEST) for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        started = analyses_start(projects, trigger=RunTrigger.SCHEDULE)
    ids = [run.pk for run in started.runs]
    jobs = sorted(queue.get_jobs(), key=lambda job: job.args[0][0])
    assert [job.args[0] for job in jobs] == [ids[:3], ids[3:4], ids[4:]]


def test_a_batch_takes_only_the_runs_it_claimed(  # type: ignore[no-untyped-def]
    make_project, redis_conn, django_capture_on_commit_callbacks, settings
):
    settings.RUN_BATCH_SIZE = 3
    projects = [make_project(manifest=DEMO_MANIFEST) for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=False):
        started = analyses_start(projects, trigger=RunTrigger.SCHEDULE)
    ids = [run.pk for run in started.runs]
    Run.objects.filter(pk=ids[1]).update(job_id="run-elsewhere")  # the reconciler was first
    assert runs_enqueue(run_ids=ids) == [ids[0], ids[2], ids[3]]
    jobs = {tuple(job.args[0]) for job in django_rq.get_queue("default").get_jobs()}
    assert jobs == {(ids[0], ids[2]), (ids[3],)}
    assert Run.objects.get(pk=ids[1]).job_id == "run-elsewhere"


def test_a_run_its_batch_cannot_finish_gets_a_job_of_its_own_and_the_rest_go_on(  # type: ignore[no-untyped-def]
    make_project, bmad_remote, redis_conn, run_worker, django_capture_on_commit_callbacks, settings
):
    """A git time-out in one run of a batch: that run leaves the batch for a job of its
    own, after the first retry interval; the batch goes on with the next runs."""
    from rq.registry import ScheduledJobRegistry

    projects = [
        make_project(repo_url=str(bmad_remote), forge_kind="other", manifest=DEMO_MANIFEST)
        for _ in range(3)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        started = analyses_start(projects, trigger=RunTrigger.SCHEDULE)
    ids = [run.pk for run in started.runs]
    [batch] = set(Run.objects.filter(pk__in=ids).values_list("job_id", flat=True))
    settings.GIT_TIMEOUT_S = 0.001  # every git step times out: a passing failure
    run_worker()
    queue = django_rq.get_queue("default")
    scheduled = set(ScheduledJobRegistry(queue=queue).get_job_ids())
    for run in Run.objects.filter(pk__in=ids):
        assert run.status == RunStatus.RUNNING  # tried once, to be tried again
        assert run.job_id.startswith(f"run-{run.pk}-")
        assert run.job_id != batch
        assert run.job_id in scheduled
        assert "will retry" in "\n".join(run.log_entries.values_list("message", flat=True))
    settings.GIT_TIMEOUT_S = 60
    for run_id in ids:  # the retries, started now instead of after their interval
        queue.enqueue_job(queue.fetch_job(Run.objects.get(pk=run_id).job_id))
    run_worker()
    assert set(Run.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        RunStatus.SUCCEEDED
    }


def test_the_reconciler_resumes_the_runs_of_a_lost_batch(  # type: ignore[no-untyped-def]
    make_project, bmad_remote, redis_conn, run_worker, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from provisioning.runs.services import runs_reconcile

    projects = [
        make_project(repo_url=str(bmad_remote), forge_kind="other", manifest=DEMO_MANIFEST)
        for _ in range(2)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        started = analyses_start(projects, trigger=RunTrigger.SCHEDULE)
    ids = sorted(run.pk for run in started.runs)
    django_rq.get_queue("default").empty()  # the batch's job is lost (a Redis restart)
    assert sorted(runs_reconcile(stale_after=timedelta(0))) == ids
    run_worker()
    assert set(Run.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        RunStatus.SUCCEEDED
    }


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


def test_a_run_on_its_last_try_ends_failed_and_its_batch_goes_on(  # type: ignore[no-untyped-def]
    make_project, bmad_remote, redis_conn, run_worker, django_capture_on_commit_callbacks, settings
):
    """With one try allowed, a time-out ends each run failed, with the reason, and the
    batch still executes the runs after it (none is left for a retry job)."""
    settings.RUN_MAX_ATTEMPTS = 1
    projects = [
        make_project(repo_url=str(bmad_remote), forge_kind="other", manifest=DEMO_MANIFEST)
        for _ in range(2)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        started = analyses_start(projects, trigger=RunTrigger.SCHEDULE)
    settings.GIT_TIMEOUT_S = 0.001
    run_worker()
    for run in Run.objects.filter(pk__in=[r.pk for r in started.runs]):
        assert run.status == RunStatus.FAILED
        assert "gave up after 1 tries" in run.failure_reason
    assert django_rq.get_queue("default").count == 0
