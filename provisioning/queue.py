"""The one place that enqueues: runs (exactly once), webhook drain jobs and notification
deliveries.

Jobs are named by their dotted path, so this module does not import the job functions
and the services that enqueue never import the modules the jobs call.
"""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import timedelta

import django_rq
import redis
from django.conf import settings
from django.db.models import Case, CharField, Value, When
from django.utils import timezone
from rq import Queue, Retry, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from bmadweb.audit_checkpoint import Checkpoint, checkpoint_parse
from provisioning.models import ACTIVE_STATUSES, LogLevel, NotificationDelivery, Run
from provisioning.runs.runlog import run_log

logger = logging.getLogger(__name__)
RETRY_INTERVALS = [10, 30, 90]

# The jobs, by dotted name (RQ imports them in the worker).
RUN_JOB = "provisioning.jobs.run_job"
RUNS_JOB = "provisioning.jobs.runs_job"
WEBHOOK_DRAIN_JOB = "provisioning.jobs.webhook_drain_job"
DISCOVERY_LIST_JOB = "provisioning.jobs.discovery_list_job"
NOTIFICATION_JOB = "provisioning.jobs.notification_job"

# Backoff between the tries of one notification (seconds); the last interval repeats.
NOTIFY_RETRY_INTERVALS = [30, 120, 600]


# While this key exists a drain job for the project is queued, so the webhook receiver
# enqueues at most one per project at a time (a burst costs one SET per delivery). It
# expires in case the job is lost; the reconciler settles whatever that left behind.
WEBHOOK_WAKE_KEY = "bmadweb:webhook-drain:{project_id}"

WEBHOOK_WAKE_TTL_S = 30


# Job id of runs executed in the calling process (CLI --wait): the reconciler judges them
# by their heartbeat alone and never enqueues them.
INLINE_JOB = "inline"


def run_enqueue(*, run_id: int, delay_s: int = 0) -> bool:
    """Enqueue the job for `run_id` exactly once (`delay_s`: to start no sooner).

    The run's empty job_id is claimed with a compare-and-set first, so concurrent callers
    (the on-commit hook and the reconciler) never enqueue the same run twice. If Redis is
    down the claim is released and the run waits for the reconciler.
    """
    job_id = f"run-{run_id}-{uuid.uuid4().hex[:12]}"
    claimed = Run.objects.filter(pk=run_id, job_id="", status__in=ACTIVE_STATUSES).update(
        job_id=job_id, heartbeat=timezone.now()
    )
    if not claimed:
        return False
    try:
        # "auto": enqueue now, not at the next commit (django-rq's default), so a queue
        # outage is caught here and the claim released.
        queue = django_rq.get_queue("default", commit_mode="auto")
        options = {
            "job_id": job_id,
            "job_timeout": settings.RQ_JOB_TIMEOUT,
            "retry": Retry(max=settings.RUN_MAX_ATTEMPTS - 1, interval=RETRY_INTERVALS),
            "result_ttl": 3600,
            "failure_ttl": 7 * 86400,
        }
        if delay_s > 0:
            queue.enqueue_in(timedelta(seconds=delay_s), RUN_JOB, run_id, **options)
        else:
            queue.enqueue(RUN_JOB, run_id, **options)
    except (redis.RedisError, OSError):
        Run.objects.filter(pk=run_id, job_id=job_id).update(job_id="")
        run = Run.objects.get(pk=run_id)
        run_log(
            run,
            "Queue unavailable right now: this run stays queued and starts as soon as the "
            "job queue is back.",
            LogLevel.WARNING,
        )
        logger.warning("queue unavailable; run %s left pending", run_id)
        return False
    return True


def runs_enqueue(*, run_ids: list[int]) -> list[int]:
    """`run_enqueue` for many runs at once (a sweep's start), in jobs of
    `RUN_BATCH_SIZE` runs (docs/performance.md#batches): one UPDATE claims every empty job
    id (each run gets its batch's job id), one Redis pipeline enqueues the jobs. Returns
    the runs enqueued; on a queue outage the claims are released and the runs wait for
    the reconciler, as with `run_enqueue`."""
    if not run_ids:
        return []
    token = uuid.uuid4().hex[:12]
    queue = django_rq.get_queue("default", commit_mode="auto")
    try:
        workers = Worker.count(queue=queue)
    except (redis.RedisError, OSError):
        workers = 1  # the enqueue below meets the outage and releases the claims
    chunks = run_batches(run_ids, size=settings.RUN_BATCH_SIZE, workers=workers)
    job_id = Case(
        *(When(pk__in=chunk, then=Value(f"runs-{token}-{n}")) for n, chunk in enumerate(chunks)),
        output_field=CharField(),
    )
    Run.objects.filter(pk__in=run_ids, job_id="", status__in=ACTIVE_STATUSES).update(
        job_id=job_id, heartbeat=timezone.now()
    )
    claimed = dict(
        Run.objects.filter(pk__in=run_ids, job_id__startswith=f"runs-{token}-").values_list(
            "pk", "job_id"
        )
    )
    if not claimed:
        return []
    batches: dict[str, list[int]] = {}
    for run_id in run_ids:
        if run_id in claimed:
            batches.setdefault(claimed[run_id], []).append(run_id)
    jobs = [
        Queue.prepare_data(
            RUNS_JOB,
            args=(batch,),
            job_id=batch_id,
            # Each run may take a job's time; a run that must be tried again leaves the
            # batch for a job of its own (provisioning.jobs.runs_job).
            timeout=settings.RQ_JOB_TIMEOUT * len(batch),
            result_ttl=3600,
            failure_ttl=7 * 86400,
        )
        for batch_id, batch in batches.items()
    ]
    try:
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()
    except (redis.RedisError, OSError):
        Run.objects.filter(pk__in=list(claimed), job_id__startswith=f"runs-{token}-").update(
            job_id=""
        )
        for run in Run.objects.filter(pk__in=list(claimed)):
            run_log(
                run,
                "Queue unavailable right now: this run stays queued and starts as soon as "
                "the job queue is back.",
                LogLevel.WARNING,
            )
        logger.warning("queue unavailable; %d runs left pending", len(claimed))
        return []
    return [run_id for run_id in run_ids if run_id in claimed]


def run_batches(run_ids: list[int], *, size: int, workers: int) -> list[list[int]]:
    """`run_ids` cut into batches, in order, for `workers` workers: each batch is the
    runs still to come shared among the workers, at most `size` (guided scheduling).
    Full batches first, then smaller ones (… 8, 4, 2, 1, 1 for two workers), so the
    workers run out of work together instead of one waiting for another's last full
    batch (docs/performance.md#batches)."""
    size, workers = max(1, size), max(1, workers)
    batches: list[list[int]] = []
    start = 0
    while start < len(run_ids):
        left = len(run_ids) - start
        take = min(size, -(-left // workers))  # a worker's share of what is left
        batches.append(run_ids[start : start + take])
        start += take
    return batches


def run_release_and_retry(*, run_id: int, job_id: str) -> bool:
    """A run its batch could not finish for a passing reason (a time-out): its claim on
    the batch's job is released and it gets a job of its own, after the first retry
    interval, with the retries a single run's job has."""
    released = Run.objects.filter(pk=run_id, job_id=job_id, status__in=ACTIVE_STATUSES).update(
        job_id=""
    )
    return bool(released) and run_enqueue(run_id=run_id, delay_s=RETRY_INTERVALS[0])


def notification_enqueue(*, delivery_id: int) -> bool:
    """Enqueue the job of a queued notification delivery exactly once (the same claim
    as runs: compare-and-set of the empty job id). With the queue down the claim is
    released and the reconciler enqueues it later (docs/architecture.md#notifications)."""
    job_id = f"notify-{delivery_id}-{uuid.uuid4().hex[:12]}"
    claimed = NotificationDelivery.objects.filter(
        pk=delivery_id, job_id="", status="queued"
    ).update(job_id=job_id)
    if not claimed:
        return False
    retries = settings.NOTIFY_MAX_ATTEMPTS - 1  # RQ refuses Retry(max=0): one try, no Retry
    try:
        django_rq.get_queue("default", commit_mode="auto").enqueue(
            NOTIFICATION_JOB,
            delivery_id,
            job_id=job_id,
            job_timeout=settings.NOTIFY_TIMEOUT_S * 6 + 30,
            retry=Retry(max=retries, interval=NOTIFY_RETRY_INTERVALS) if retries else None,
            result_ttl=3600,
            failure_ttl=7 * 86400,
        )
    except (redis.RedisError, OSError):
        NotificationDelivery.objects.filter(pk=delivery_id, job_id=job_id).update(job_id="")
        logger.warning("queue unavailable; notification %s waits", delivery_id)
        return False
    return True


@functools.lru_cache(maxsize=8)
def _redis_for(url: str) -> redis.Redis:
    # One client (and connection pool) per process and URL: django-rq builds a new one on
    # every call, which costs a connection per webhook request. redis-py resets the pool
    # in a forked child.
    return redis.Redis.from_url(url)


def webhook_wake(*, project_id: int) -> None:
    """Make sure a job will settle the project's pending webhook deliveries.

    With the queue unavailable the deliveries stay safe in the ledger, and the reconciler
    settles them once it is back.
    """
    key = WEBHOOK_WAKE_KEY.format(project_id=project_id)
    config = settings.RQ_QUEUES["default"]
    try:
        conn = _redis_for(config["URL"])
        if not conn.set(key, 1, nx=True, ex=WEBHOOK_WAKE_TTL_S):
            return  # a drain job is queued and has not started yet: it will see them
        try:
            django_rq.get_queue("default", commit_mode="auto", connection=conn).enqueue(
                WEBHOOK_DRAIN_JOB,
                project_id,
                at_front=True,  # before long provisioning runs: forges expect a quick echo
                job_timeout=settings.RQ_JOB_TIMEOUT,
                retry=Retry(max=2, interval=[5, 30]),
                result_ttl=60,
                failure_ttl=7 * 86400,
            )
        except BaseException:
            conn.delete(key)
            raise
    except (redis.RedisError, OSError):
        logger.warning("queue unavailable; webhook deliveries of project %s wait", project_id)


def discovery_enqueue(*, source_id: int, job_id: str) -> bool:
    """Enqueue the listing of a discovery source under `job_id` (claimed by the caller);
    False when the queue cannot be reached."""
    try:
        django_rq.get_queue("default", commit_mode="auto").enqueue(
            DISCOVERY_LIST_JOB,
            source_id,
            job_id=job_id,
            at_front=True,  # someone is looking at the page
            job_timeout=settings.RQ_JOB_TIMEOUT,
            result_ttl=60,
            failure_ttl=7 * 86400,
        )
    except (redis.RedisError, OSError):
        logger.warning("queue unavailable; discovery source %s is not listed", source_id)
        return False
    return True


def job_is_alive(job_id: str) -> bool:
    """False when the job is gone, finished or failed (its run was abandoned)."""
    if not job_id:
        return False
    if job_id == INLINE_JOB:
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


def webhook_wake_clear(*, project_id: int) -> None:
    """Called by the drain job as it starts: the next delivery enqueues a new job."""
    _redis_for(settings.RQ_QUEUES["default"]["URL"]).delete(
        WEBHOOK_WAKE_KEY.format(project_id=project_id)
    )


AUDIT_ANCHOR_KEY = "bmadweb:audit:checkpoint"


def audit_anchor_get() -> Checkpoint | None:
    """The last audit checkpoint kept in Redis (outside the database), signature checked;
    None when Redis has none, cannot be reached, or holds one that does not verify."""
    try:
        raw = _redis_for(settings.RQ_QUEUES["default"]["URL"]).get(AUDIT_ANCHOR_KEY)
    except (redis.RedisError, OSError):
        logger.warning("queue unavailable; the audit checkpoint anchor cannot be read")
        return None
    if raw is None:
        return None
    try:
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        return checkpoint_parse(text)
    except ValueError as exc:
        logger.error("the audit checkpoint anchor in Redis is not valid: %s", exc)
        return None


def audit_anchor_set(checkpoint: Checkpoint) -> None:
    _redis_for(settings.RQ_QUEUES["default"]["URL"]).set(AUDIT_ANCHOR_KEY, checkpoint.line())
