"""Platform read-side queries: the audit log a user may see, readiness checks and the
state behind /metrics.

Everything here only reads. Redis is always reached through a client with short socket
timeouts, so a hung Redis costs a bounded wait instead of a stuck request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import django_rq
import redis
from django.db import connection, transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django_rq.workers import get_worker_class

from bmadweb import crypto
from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord
from projects.models import Project, SyncStatus
from projects.roles import Perm
from projects.selectors import project_list_for_user
from provisioning.models import (
    FINISHED_STATUSES,
    Run,
    RunKind,
    RunStatus,
    WebhookDelivery,
    WebhookOutcome,
    WebhookProvider,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

logger = logging.getLogger(__name__)

QUEUE_NAME = "default"
REDIS_TIMEOUT_S = 0.5  # per socket operation, for readiness and scrapes
READY_DEADLINE_S = 0.8  # the whole readiness answer, whatever hangs


# --- Audit log ----------------------------------------------------------------------


def audit_records_for_user(
    user: User | AnonymousUser, *, project: Project | None = None
) -> QuerySet[AuditRecord]:
    """Audit records `user` may read, newest first.

    Superusers read everything. Everyone else reads the records of projects they hold
    MANAGE on (owners) and their own account-level records (sign-ins, API tokens: no
    project). Records of projects they cannot manage — including their own actions there
    — stay hidden, so losing a role also loses that project's history.
    """
    records = AuditRecord.objects.order_by("-seq")
    if project is not None:
        records = records.filter(project=project)
    if not user.is_authenticated:
        return records.none()
    if user.is_superuser:
        return records
    managed = project_list_for_user(user, perm=Perm.MANAGE).values("pk")
    return records.filter(
        Q(project__in=managed) | Q(actor_id=user.pk, project__isnull=True, project_slug="")
    )


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    created: str
    action: str
    actor: str
    project: str
    payload: dict[str, Any] | None
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seq": self.seq,
            "created": self.created,
            "action": self.action,
            "actor": self.actor,
            "project": self.project or None,
            "payload": self.payload,
        }
        if self.error:
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class AuditPage:
    count: int
    page: int
    page_size: int
    entries: list[AuditEntry]

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.count


def _entry(record: AuditRecord) -> AuditEntry:
    try:
        payload: dict[str, Any] | None = audit_payload(record)
        error = ""
    except crypto.CryptoError:
        payload, error = None, "cannot decrypt"
    return AuditEntry(
        seq=record.seq,
        created=record.created.isoformat(),
        action=record.action,
        actor=record.actor_name,
        project=record.project_slug,
        payload=payload,
        error=error,
    )


def audit_page_for_user(
    user: User | AnonymousUser, *, project: Project | None, page: int, page_size: int
) -> AuditPage:
    """One page (1-based) of the records `user` may read, payloads decrypted."""
    records = audit_records_for_user(user, project=project)
    start = (page - 1) * page_size
    rows = list(records[start : start + page_size])
    return AuditPage(
        count=records.count(), page=page, page_size=page_size, entries=[_entry(r) for r in rows]
    )


# --- Redis and RQ -------------------------------------------------------------------


def redis_client() -> redis.Redis:
    """The queue's Redis connection settings, with short socket timeouts added."""
    pool = django_rq.get_connection(QUEUE_NAME).connection_pool
    kwargs = {
        **pool.connection_kwargs,
        "socket_timeout": REDIS_TIMEOUT_S,
        "socket_connect_timeout": REDIS_TIMEOUT_S,
    }
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


def live_worker_count(client: redis.Redis) -> int:
    """Workers registered on the queue whose registration has not expired."""
    queue = django_rq.get_queue(QUEUE_NAME, connection=client)
    return len(get_worker_class().all(queue=queue))


def queue_depths(client: redis.Redis) -> dict[str, int]:
    """Jobs waiting, running, failed and scheduled (registries read without cleanup)."""
    queue = django_rq.get_queue(QUEUE_NAME, connection=client)
    return {
        "queued": queue.count,
        "started": queue.started_job_registry.get_job_count(cleanup=False),
        "failed": queue.failed_job_registry.get_job_count(cleanup=False),
        "scheduled": queue.scheduled_job_registry.get_job_count(cleanup=False),
    }


# --- Readiness ----------------------------------------------------------------------


class CheckFailed(Exception):
    """A readiness check failed; the message is a fixed, secret-free phrase."""


def _check_database() -> None:
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with transaction.atomic():
                    cursor.execute("SET LOCAL statement_timeout = 500")
                    cursor.execute("SELECT 1")
            else:
                cursor.execute("SELECT 1")
    finally:
        connection.close()  # this thread's own connection


def _check_redis() -> None:
    if not redis_client().ping():
        raise CheckFailed("no answer to PING")


def _check_workers() -> None:
    if live_worker_count(redis_client()) < 1:
        raise CheckFailed("no live worker")


def _check_keys() -> None:
    if not crypto.keys_usable():
        raise CheckFailed("encryption key ring unusable")
    try:
        crypto.audit_mac(crypto.audit_signing_key_id(), b"health")
    except crypto.CryptoError:
        raise CheckFailed("audit key ring unusable") from None


READY_CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "redis": _check_redis,
    "workers": _check_workers,
    "keys": _check_keys,
}


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    ms: int
    error: str = ""


@dataclass(frozen=True)
class ReadyReport:
    checks: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.checks.items() if not result.ok]

    @property
    def ok(self) -> bool:
        return not self.failed


def _timed(check: Callable[[], None]) -> CheckResult:
    started = time.monotonic()
    error = ""
    try:
        check()
    except CheckFailed as exc:
        error = str(exc)
    except (redis.TimeoutError, TimeoutError):
        error = "timed out"
    except (redis.ConnectionError, OSError):
        error = "unreachable"
    except Exception as exc:
        # The class name only: messages may carry addresses or credentials.
        error = f"failed ({type(exc).__name__})"
    ms = round((time.monotonic() - started) * 1000)
    return CheckResult(ok=not error, ms=ms, error=error)


_EXECUTOR = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ready")
_inflight: dict[Callable[[], None], Future[CheckResult]] = {}
_inflight_lock = threading.Lock()


def _start(check: Callable[[], None]) -> Future[CheckResult]:
    """Run `check` in the background, or join the run still in flight from an earlier
    probe, so a dependency that hangs holds one thread per check, never one per probe."""
    with _inflight_lock:
        future = _inflight.get(check)
        if future is None or future.done():
            future = _EXECUTOR.submit(_timed, check)
            _inflight[check] = future
        return future


def readiness_report(
    checks: dict[str, Callable[[], None]] | None = None, *, deadline_s: float = READY_DEADLINE_S
) -> ReadyReport:
    """Run every check concurrently; one still running at the deadline has "timed out"."""
    checks = READY_CHECKS if checks is None else checks
    started = time.monotonic()
    futures = {name: _start(check) for name, check in checks.items()}
    wait(futures.values(), timeout=deadline_s)
    elapsed = round((time.monotonic() - started) * 1000)
    results = {
        name: future.result() if future.done() else CheckResult(False, elapsed, "timed out")
        for name, future in futures.items()
    }
    for name, result in results.items():
        if not result.ok:
            logger.warning("readiness: %s failed: %s", name, result.error)
    return ReadyReport(checks=results)


# --- Metrics state ------------------------------------------------------------------

# Upper bounds (seconds) of the run duration histogram: analyses take seconds,
# provisioning runs with clone, push and pull request up to minutes.
RUN_DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


def _allowed(value: str, choices: Iterable[str]) -> str:
    # Label values come from a closed set; anything else (a hand-edited row) is "other".
    return value if value in set(choices) else "other"


def run_counts() -> dict[tuple[str, str], int]:
    """Runs by (kind, status), every known pair present (zero when none)."""
    counts = {(k.value, s.value): 0 for k in RunKind for s in RunStatus}
    rows = Run.objects.order_by().values_list("kind", "status").annotate(n=Count("pk"))
    for kind, status, n in rows:
        key = (_allowed(kind, RunKind.values), _allowed(status, RunStatus.values))
        counts[key] = counts.get(key, 0) + n
    return counts


@dataclass(frozen=True)
class DurationHistogram:
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count), +Inf last
    total_seconds: float


def run_duration_histogram() -> DurationHistogram:
    """Durations (started → finished) of every finished run, as cumulative buckets.

    All finished runs, not a recent window: the buckets then only grow, as Prometheus
    expects of a histogram, and rate()/increase() over them give recent quantiles.
    """
    duration = ExpressionWrapper(F("finished") - F("started"), output_field=DurationField())
    finished = (
        Run.objects.order_by()
        .filter(status__in=FINISHED_STATUSES, started__isnull=False, finished__isnull=False)
        .annotate(duration=duration)
    )
    aggregates: dict[str, Any] = {
        f"le{i}": Count("pk", filter=Q(duration__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(RUN_DURATION_BUCKETS)
    }
    row = finished.aggregate(total=Count("pk"), seconds=Sum("duration"), **aggregates)
    buckets = [(bound, row[f"le{i}"]) for i, bound in enumerate(RUN_DURATION_BUCKETS)]
    buckets.append((float("inf"), row["total"]))
    seconds = row["seconds"]
    total = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds or 0)
    return DurationHistogram(buckets=buckets, total_seconds=max(total, 0.0))


def project_counts_by_sync_status() -> dict[str, int]:
    counts = dict.fromkeys(SyncStatus.values, 0)
    rows = Project.objects.order_by().values_list("sync_status").annotate(n=Count("pk"))
    for status, n in rows:
        key = _allowed(status, SyncStatus.values)
        counts[key] = counts.get(key, 0) + n
    return counts


def webhook_delivery_counts() -> dict[tuple[str, str], int]:
    """Webhook deliveries by (provider, outcome), every known pair present."""
    counts = {(p.value, o.value): 0 for p in WebhookProvider for o in WebhookOutcome}
    rows = (
        WebhookDelivery.objects.order_by()
        .values_list("provider", "outcome")
        .annotate(n=Count("pk"))
    )
    for provider, outcome, n in rows:
        key = (_allowed(provider, WebhookProvider.values), _allowed(outcome, WebhookOutcome.values))
        counts[key] = counts.get(key, 0) + n
    return counts
