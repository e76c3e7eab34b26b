"""RQ entry points and the one function that enqueues (STYLE.md points 4 and 11).

Job functions take only ids, load the row and call one service.
"""

from __future__ import annotations

import logging
import uuid

import django_rq
import redis
from django.conf import settings
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from provisioning.models import ACTIVE_STATUSES, LogLevel, Run

logger = logging.getLogger(__name__)
RETRY_INTERVALS = [10, 30, 90]


class QueueUnavailable(Exception):
    """Redis cannot be reached; the run stays queued and starts when it is back."""


def run_enqueue(*, run_id: int) -> bool:
    """Enqueue the job for `run_id` exactly once.

    The run's empty job_id is claimed with a compare-and-set first, so concurrent callers
    (the on-commit hook and the reconciler) never enqueue the same run twice. If Redis is
    down the claim is released and the run waits for the reconciler.
    """
    job_id = f"run-{run_id}-{uuid.uuid4().hex[:12]}"
    claimed = Run.objects.filter(pk=run_id, job_id="", status__in=ACTIVE_STATUSES).update(
        job_id=job_id
    )
    if not claimed:
        return False
    try:
        django_rq.get_queue("default").enqueue(
            run_job,
            run_id,
            job_id=job_id,
            job_timeout=settings.RQ_JOB_TIMEOUT,
            retry=Retry(max=settings.RUN_MAX_ATTEMPTS - 1, interval=RETRY_INTERVALS),
            result_ttl=3600,
            failure_ttl=7 * 86400,
        )
    except (redis.RedisError, OSError):
        Run.objects.filter(pk=run_id, job_id=job_id).update(job_id="")
        from provisioning.runtime import run_log

        run = Run.objects.get(pk=run_id)
        run_log(
            run,
            "The job queue is unavailable right now; this run starts as soon as it is back.",
            LogLevel.WARNING,
        )
        logger.warning("queue unavailable; run %s left pending", run_id)
        return False
    return True


def run_job(run_id: int) -> None:
    """RQ job: advance one run."""
    from provisioning.services import run_execute

    run_execute(run_id=run_id)


def reconcile_job() -> list[int]:
    """RQ job (scheduled): resume runs whose job was lost."""
    from provisioning.services import runs_reconcile

    return runs_reconcile()


def job_is_alive(job_id: str) -> bool:
    """False when the job is gone, finished or failed (its run was abandoned)."""
    if not job_id:
        return False
    if job_id == "inline":
        return True  # executed by a CLI process: only its heartbeat tells
    try:
        job = Job.fetch(job_id, connection=django_rq.get_connection("default"))
    except NoSuchJobError:
        return False
    except (redis.RedisError, OSError):
        return True  # cannot tell: do not resume a run that may still be running
    return job.get_status() in (
        JobStatus.QUEUED,
        JobStatus.STARTED,
        JobStatus.SCHEDULED,
        JobStatus.DEFERRED,
    )


def queue_ping() -> bool:
    try:
        return bool(django_rq.get_connection("default").ping())
    except (redis.RedisError, OSError):
        return False
