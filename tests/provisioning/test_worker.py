"""The worker class production runs (provisioning/worker.py,
docs/performance.md#preloaded-worker): RQ's forking worker, whose work horses start with
the jobs' code and GitPython already loaded by the parent. A real `manage.py rqworker
--burst` process with the settings' class, the test database and Redis, real git."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from django.db import connection
from django_rq.workers import get_worker_class
from rq.job import Job
from rq.worker import SimpleWorker
from rq.worker import Worker as ForkingWorker

from provisioning import worker
from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import services
from tests.repos import push_change
from tests.worker_process import worker_env

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def rqworker(redis_url: str, work: Path, *options: str) -> int:
    """`manage.py rqworker default --burst` to the end of the queue; returns its pid."""
    env = worker_env(redis_url, work, BMADWEB_MIRROR_BUDGET_MB="64")
    argv = [sys.executable, "manage.py", "rqworker", "default", "--burst", *options]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    return proc.pid


def test_the_settings_name_rqs_forking_worker_with_the_preload() -> None:
    chosen = get_worker_class()
    assert chosen is worker.Worker
    assert issubclass(chosen, ForkingWorker)
    assert not issubclass(chosen, SimpleWorker)  # jobs run in work horses, not the worker


def test_the_preload_leaves_no_database_connection_for_the_horses_to_share() -> None:
    """A connection open in the parent at the fork would be every horse's at once."""
    assert Run.objects.count() == 0  # the test's connection is open now
    assert connection.connection is not None
    try:
        worker.preload()
    finally:
        gc.unfreeze()  # this process is a test run, not a worker about to fork
    assert connection.connection is None
    assert "git" in sys.modules


@pytest.mark.parametrize(
    ("options", "preloaded"),
    [((), True), (("--worker-class", "rq.worker.Worker"), False)],
    ids=["settings-class", "rq-plain-worker"],
)
def test_a_work_horse_starts_with_gitpython_and_the_jobs_loaded(  # type: ignore[no-untyped-def]
    redis_conn, redis_url, tmp_path, options, preloaded
):
    """RQ's plain forking worker, the control: its horses load GitPython themselves."""
    job = django_rq.get_queue("default").enqueue("tests.provisioning.worker_probe.loaded")
    worker_pid = rqworker(redis_url, tmp_path / "work", *options)
    result = Job.fetch(job.id, connection=redis_conn).return_value()
    assert isinstance(result, dict), result
    assert result["gitpython"] is preloaded
    if preloaded:
        assert result["jobs"] is True
    assert result["pid"] not in (worker_pid, os.getpid())  # a work horse ran it


def test_analyses_run_in_the_preloaded_work_horses_cold_then_warm(  # type: ignore[no-untyped-def]
    bmad_project, bmad_remote, owner, redis_conn, redis_url, tmp_path
):
    """Each horse opens its own database and Redis connections: two runs in two horses,
    the second on the mirror the first one cloned, both to their end."""
    # A folder of the team's own, which the engine lists but never reads inside.
    push_change(bmad_remote, tmp_path, "docs/README.md", "# Our docs\n")
    runs: list[Run] = []
    for step in range(2):
        if step:
            push_change(bmad_remote, tmp_path, "docs/notes/today.md", "Team notes.\n")
        runs.append(services.run_create(project=bmad_project, kind=RunKind.ANALYZE, actor=owner))
        rqworker(redis_url, tmp_path / "work")
        runs[-1].refresh_from_db()
        assert runs[-1].status == RunStatus.SUCCEEDED, runs[-1].failure_reason
    logs = ["\n".join(r.log_entries.values_list("message", flat=True)) for r in runs]
    assert "(cloned afresh)" in logs[0]
    assert "(fetched the changes)" in logs[1]
    assert "the last report is reused" in logs[1]
    assert runs[1].report == runs[0].report
