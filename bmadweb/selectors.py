"""Platform read-side queries: the audit log a user may see and the chain check,
readiness checks and the state behind /metrics.

Everything here only reads. Redis is always reached through a client with short socket
timeouts, so a hung Redis costs a bounded wait instead of a stuck request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import django_rq
import redis
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django_rq.workers import get_worker_class

from bmadweb import crypto
from bmadweb.audit import (
    GENESIS,
    StoredRecord,
    VerifyResult,
    audit_verify,
    stored_payload,
    stored_records,
)
from bmadweb.audit_checkpoint import (
    Checkpoint,
    audit_head,
    audit_last_checkpoint,
    audit_verify_since_checkpoint,
)
from bmadweb.models import AuditRecord
from projects.models import Project
from projects.roles import Perm
from projects.selectors import project_list_for_user

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


def _entry(record: StoredRecord) -> AuditEntry:
    payload: dict[str, Any] | None = None
    error = f"damaged: {record.damage}" if record.damage else ""
    if not error:
        try:
            payload = stored_payload(record)
        except crypto.CryptoError:
            error = "cannot decrypt"
    return AuditEntry(
        seq=record.seq if record.seq is not None else -1,
        created=record.created.isoformat() if record.created else record.created_text,
        action=record.action,
        actor=record.actor_name,
        project=record.project_slug,
        payload=payload,
        # Fixed phrases: the page is read by more people than the admin.
        error=error,
    )


def audit_page_for_user(
    user: User | AnonymousUser, *, project: Project | None, page: int, page_size: int
) -> AuditPage:
    """One page (1-based) of the records `user` may read, payloads decrypted; a record
    with a damaged column is listed with an error naming it instead of failing the page."""
    records = audit_records_for_user(user, project=project)
    start = (page - 1) * page_size
    rows = stored_records(records, window=slice(start, start + page_size))
    return AuditPage(
        count=records.count(), page=page, page_size=page_size, entries=[_entry(r) for r in rows]
    )


@dataclass(frozen=True)
class AuditChainState:
    length: int
    head_mac: str
    checkpoint_length: int
    checkpoint_time: float  # Unix seconds, 0 without a checkpoint


def audit_chain_state() -> AuditChainState:
    """The chain's length and head, and the last checkpoint, for /metrics."""
    head = audit_head()
    checkpoint = audit_last_checkpoint()
    return AuditChainState(
        length=head.seq,
        head_mac=head.mac,
        checkpoint_length=checkpoint.seq if checkpoint else 0,
        checkpoint_time=checkpoint.created.timestamp() if checkpoint else 0.0,
    )


def audit_chain_verify(*, after_seq: int = 0, after_mac: str = GENESIS) -> VerifyResult:
    """Walk the audit chain (from the start, or after a checkpoint's record `after_seq`
    whose MAC is `after_mac`) and name the first record that breaks it (raises
    crypto.KeyConfigError when the audit key ring is unusable)."""
    return audit_verify(after_seq=after_seq, after_mac=after_mac)


def audit_chain_verify_since_checkpoint(
    *, max_age: timedelta, anchor: Checkpoint | None = None
) -> VerifyResult:
    """Check the chain from the newest trusted checkpoint on (the chain's last one, at
    most `max_age` old, or the newer `anchor` kept outside the database)."""
    return audit_verify_since_checkpoint(max_age=max_age, anchor=anchor)


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


def worker_count_live(client: redis.Redis) -> int:
    """Workers registered on the queue whose registration has not expired."""
    queue = django_rq.get_queue(QUEUE_NAME, connection=client)
    return len(get_worker_class().all(queue=queue))


def queue_depth_list(client: redis.Redis) -> dict[str, int]:
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
    if worker_count_live(redis_client()) < 1:
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


def readiness_get(
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
