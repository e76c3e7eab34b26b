"""Lost runs come back without a person: the reconciler, its schedule, and Redis outages.

Real Redis, real RQ SimpleWorker, real database. "Redis down" is a closed TCP port (the
connection is refused) or a listener that accepts and never answers (a stuck Redis).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import django_rq
import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from provisioning import queue
from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import services
from tests.provisioning.forges.forge_helpers import closed_port

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def stuck_redis_url() -> Iterator[str]:
    """A server that accepts connections and never answers (a Redis stuck or blackholed)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def _queued_jobs() -> int:
    return int(django_rq.get_queue("default").count)


def _log(run: Run) -> str:
    return "\n".join(run.log_entries.values_list("message", flat=True))


def _create(project, owner, capture, kind=RunKind.ANALYZE) -> Run:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        run = services.run_create(project=project, kind=kind, actor=owner)
    run.refresh_from_db()
    return run


def _bmad(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("bmad", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def _abandon(run: Run, *, attempts: int, job_id: str = "run-gone-0000") -> None:
    """What a worker killed mid-run leaves behind: running, no live job, no progress."""
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        job_id=job_id,
        attempts=attempts,
        started=timezone.now() - timedelta(hours=2),
        heartbeat=timezone.now() - timedelta(hours=2),
    )


# --- Redis down when a run is created ----------------------------------------------------


def test_run_created_while_redis_is_down_stays_queued_and_says_so(
    bmad_project, owner, redis_conn, redis_down, django_capture_on_commit_callbacks
):
    run = _create(bmad_project, owner, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.QUEUED
    assert run.job_id == ""
    assert "Queue unavailable" in _log(run)


def test_reconcile_enqueues_a_run_left_by_a_queue_outage_exactly_once(
    bmad_project, owner, redis_conn, run_worker, django_capture_on_commit_callbacks
):
    with override_settings(RQ_QUEUES={"default": {"URL": f"redis://127.0.0.1:{closed_port()}"}}):
        run = _create(bmad_project, owner, django_capture_on_commit_callbacks)
    # Redis is back.
    assert services.runs_reconcile() == [run.pk]
    assert services.runs_reconcile() == []
    assert _queued_jobs() == 1
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    assert run.attempts == 1


def test_cli_provision_without_wait_says_the_queue_is_unavailable(
    bmad_project, redis_conn, redis_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        code, out = _bmad("provision", "--project", "healthai")
    assert code == 0
    assert "job queue is unavailable" in out
    assert Run.objects.get().job_id == ""


def test_cli_json_output_names_the_unavailable_queue(
    bmad_project, redis_conn, redis_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _, out = _bmad("provision", "--project", "healthai", "--format", "json")
    data = json.loads(out)
    assert (data["queue"], data["run"]["status"]) == ("unavailable", "queued")


def test_queue_connection_from_settings_gives_up_on_a_stuck_redis(stuck_redis_url, tmp_path):
    """The settings put connect/read timeouts on the queue connection, so a web request
    enqueueing a run never hangs on a stuck Redis."""
    probe = (
        "import time, django, django_rq, redis\n"
        "django.setup()\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    django_rq.get_queue('default').count\n"
        "except redis.RedisError:\n"
        "    print(round(time.monotonic() - started, 2))\n"
    )
    env = {**os.environ, "REDIS_URL": stuck_redis_url, "BMADWEB_REDIS_TIMEOUT": "1"}
    env["DJANGO_SETTINGS_MODULE"] = "bmadweb.settings"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip(), result.stderr[-2000:]
    assert float(result.stdout) < 2.5


# --- Runs whose worker died ----------------------------------------------------------------


def test_stale_running_run_with_a_dead_job_is_resumed(
    bmad_project, owner, redis_conn, run_worker, django_capture_on_commit_callbacks
):
    run = _create(bmad_project, owner, django_capture_on_commit_callbacks)
    redis_conn.flushdb()  # its job is gone with the worker
    _abandon(run, attempts=1)
    assert services.runs_reconcile() == [run.pk]
    run.refresh_from_db()
    assert run.job_id.startswith(f"run-{run.pk}-")
    assert "stopped unexpectedly; resuming" in _log(run)
    run_worker()
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)


def test_running_run_with_progress_and_a_live_job_is_left_alone(
    bmad_project, owner, redis_conn, django_capture_on_commit_callbacks
):
    run = _create(bmad_project, owner, django_capture_on_commit_callbacks)
    job_id = run.job_id
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, heartbeat=timezone.now())
    assert services.runs_reconcile() == []
    run.refresh_from_db()
    assert run.job_id == job_id
    assert _queued_jobs() == 1


def test_run_that_keeps_losing_its_worker_fails_after_the_last_attempt(
    bmad_project, owner, redis_conn, django_capture_on_commit_callbacks, settings
):
    settings.RUN_MAX_ATTEMPTS = 3
    run = _create(bmad_project, owner, django_capture_on_commit_callbacks)
    redis_conn.flushdb()
    _abandon(run, attempts=3)
    assert services.runs_reconcile() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == "The worker stopped during the run 3 times; giving up."
    assert _queued_jobs() == 0


def test_queued_run_whose_job_vanished_with_redis_data_is_enqueued_again(
    bmad_project, owner, redis_conn, run_worker, django_capture_on_commit_callbacks
):
    run = _create(bmad_project, owner, django_capture_on_commit_callbacks)
    old_job = run.job_id
    redis_conn.flushdb()  # Redis restarted without its data
    assert services.runs_reconcile() == []  # maybe being enqueued right now: give it time
    assert services.runs_reconcile(stale_after=timedelta(0)) == [run.pk]
    run.refresh_from_db()
    assert run.job_id not in ("", old_job)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason


def test_queued_run_waiting_behind_others_is_not_enqueued_twice(
    bmad_project, owner, redis_conn, django_capture_on_commit_callbacks
):
    _create(bmad_project, owner, django_capture_on_commit_callbacks)
    assert services.runs_reconcile(stale_after=timedelta(0)) == []
    assert _queued_jobs() == 1


def test_run_executed_inline_by_the_cli_is_never_enqueued(bmad_project, owner, redis_conn):
    run = services.run_create(project=bmad_project, kind=RunKind.ANALYZE, enqueue=False)
    assert services.runs_reconcile() == []
    assert _queued_jobs() == 0
    assert Run.objects.get(pk=run.pk).job_id == queue.INLINE_JOB


def test_replaced_job_does_nothing_when_rq_retries_it(
    bmad_project, owner, redis_conn, django_capture_on_commit_callbacks
):
    """RQ retries an abandoned job under its old id; the reconciler already gave the run a
    new job, so the old one must not execute the run (the new one does)."""
    from rq import SimpleWorker

    from provisioning.jobs import run_job

    run = _create(bmad_project, owner, django_capture_on_commit_callbacks)
    queue = django_rq.get_queue("default", commit_mode="auto")
    queue.enqueue(run_job, run.pk, job_id="run-stale-retry", at_front=True)
    SimpleWorker([queue], connection=queue.connection).work(burst=True, max_jobs=1)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.QUEUED, 0)


# --- The schedule ---------------------------------------------------------------------------


def _cron_scheduler():  # type: ignore[no-untyped-def]
    from django_rq.cron import DjangoCronScheduler

    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("provisioning.scheduler")
    return scheduler


def test_scheduler_config_reconciles_and_checks_drift_every_minute(redis_conn):
    jobs = {job.func_name: job for job in _cron_scheduler().get_jobs()}
    assert sorted(jobs) == [
        "provisioning.jobs.audit_checkpoint_job",
        "provisioning.jobs.drift_check_job",
        "provisioning.jobs.reconcile_job",
    ]
    for name in ("provisioning.jobs.drift_check_job", "provisioning.jobs.reconcile_job"):
        assert (jobs[name].queue_name, jobs[name].interval) == ("default", 60)
    assert jobs["provisioning.jobs.audit_checkpoint_job"].queue_name == "default"


def test_scheduler_tick_resumes_a_lost_run_without_a_person(
    bmad_project, owner, redis_conn, run_worker, django_capture_on_commit_callbacks
):
    with override_settings(RQ_QUEUES={"default": {"URL": f"redis://127.0.0.1:{closed_port()}"}}):
        run = _create(bmad_project, owner, django_capture_on_commit_callbacks)
    enqueued = _cron_scheduler().enqueue_jobs()
    assert {job.func_name for job in enqueued} == {
        "provisioning.jobs.reconcile_job",
        "provisioning.jobs.drift_check_job",  # none due
        "provisioning.jobs.audit_checkpoint_job",
    }
    run_worker()  # runs the scheduled jobs, then the run the reconciler enqueued
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason


def test_sweep_removes_only_stale_work_folders(tmp_path):
    import os
    import time

    from provisioning import git_ops

    stale = tmp_path / "bmadweb-killed"
    fresh = tmp_path / "bmadweb-running"
    other = tmp_path / "not-ours"
    for folder in (stale, fresh, other):
        (folder / "repo").mkdir(parents=True)
    old = time.time() - 7200
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert git_ops.sweep_stale_workdirs(tmp_path, older_than_s=3600) == 1
    assert not stale.exists()
    assert fresh.exists()
    assert other.exists()
