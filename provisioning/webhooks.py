"""The webhook receiver's services: check and record in the request; audit and start
analyses in the worker.

The request (PRODUCT.md section 5, SECURITY.md sections 11-13): size cap → signature
(raw body, constant time, current or previous secret) → event allowlist (ping, push;
anything else acknowledged and ignored) → JSON → repository match → one INSERT into the
ledger → wake the project's drain job. A push to the default branch is answered 202
"queued"; pings, other events, branches and deletions are answered at once.

The first copy of a delivery claims its (project, provider, delivery id) through a
partial unique index on that INSERT; later copies fail the claim and are recorded as
duplicates, so a delivery never starts a second run. Outcomes that did not complete the
delivery (rejected, and later busy or error) do not hold the claim, so a retry of the
same delivery is processed again.

The drain (`webhooks_drain`, an RQ job at the front of the queue) settles the pending
rows of a project in batches, one transaction each: one `run_create` per batch starts or
joins the analysis for its queued pushes (bursts coalesce), "last push seen" moves
forward, and every row gets its audit record ``webhook.<outcome>``. A delivery counts as
done once its run is created; the run's job is enqueued when that commits. Rows the
drain never saw (queue down, job lost) are settled by the reconciler.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from bmadweb.audit import AuditEntry, audit_record_many
from projects.models import Project
from provisioning import jobs
from provisioning import webhook_checks as checks
from provisioning.models import (
    RunKind,
    RunTrigger,
    WebhookDelivery,
    WebhookOutcome,
)
from provisioning.services import RunBusy, RunError, run_create
from provisioning.write_gate import write_gate, write_transaction

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Actor = User | AnonymousUser | None

logger = logging.getLogger(__name__)


class WebhookReplayError(Exception):
    """A delivery that cannot be replayed; the message is for the person."""


@dataclass(frozen=True)
class WebhookResult:
    status: int
    outcome: str
    detail: str
    delivery: WebhookDelivery | None = None

    @property
    def run_id(self) -> int | None:
        return self.delivery.run_id if self.delivery is not None else None


@dataclass(frozen=True)
class _Incoming:
    project: Project
    provider: str
    headers: Mapping[str, str]
    body: bytes
    delivery_id: str
    event: str = ""
    kind: str = ""
    signature_ok: bool = False
    replay_of: WebhookDelivery | None = None
    actor: Actor = None


NOT_FOUND = WebhookResult(404, "", "no such webhook")
_SECRETS = ("webhook_secret", "webhook_secret_previous")


# --- Selectors --------------------------------------------------------------------------


def webhook_project(*, provider: str, project_uid: uuid.UUID | str) -> Project | None:
    if provider not in checks.PROVIDERS:
        return None
    try:
        uid = project_uid if isinstance(project_uid, uuid.UUID) else uuid.UUID(project_uid)
    except ValueError:
        return None
    # Only what the receiver reads: a webhook request is hot, the project row is wide.
    fields = ("uid", "slug", "repo_url", "default_branch", *(f"{s}_enc" for s in _SECRETS))
    return Project.objects.filter(uid=uid).only(*fields).order_by().first()


def deliveries_for(project: Project) -> QuerySet[WebhookDelivery]:
    """The project's delivery ledger, newest first (bodies left out)."""
    return (
        WebhookDelivery.objects.filter(project=project).defer("body").order_by("-received", "-id")
    )


def delivery_for(*, project: Project, delivery_pk: int) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(project=project, pk=delivery_pk).first()


# --- Receiving (the request) ------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    """What the request decided; `claims` when it completes the delivery id."""

    outcome: str
    detail: str
    status: int
    push: checks.Push | None = None
    claims: bool = False
    keep_body: bool = True


def webhook_receive(
    *,
    provider: str,
    project_uid: uuid.UUID | str,
    headers: Mapping[str, str],
    body: bytes | None,
) -> WebhookResult:
    """Handle one request on /hooks/<provider>/<project uid>/.

    `headers` has lower-cased names; `body` is the raw body, or None when it was larger
    than BMADWEB_WEBHOOK_MAX_BYTES (it was then never read). Unknown project or provider
    → 404 and nothing recorded. Unexpected failures are recorded as *error* and answered
    503, so the forge retries.
    """
    project = webhook_project(provider=provider, project_uid=project_uid)
    if project is None:
        return NOT_FOUND
    raw = body if body is not None else b""
    inc = _Incoming(
        project=project,
        provider=provider,
        headers=headers,
        body=raw,
        delivery_id=checks.delivery_id_of(provider, headers, raw),
    )
    try:
        inc, verdict = _check(inc, too_large=body is None)
        result = _store(inc, verdict)
    except Exception:  # the receiver never answers 500: record, then let the forge retry
        logger.exception("webhook delivery %s for %s failed", inc.delivery_id, project.slug)
        error = _Verdict(
            WebhookOutcome.ERROR, "internal error, the sender may retry", 503, keep_body=False
        )
        result = _store(inc, error)
    jobs.webhook_wake(project_id=project.pk)
    return result


def _check(inc: _Incoming, *, too_large: bool) -> tuple[_Incoming, _Verdict]:
    if too_large:
        return inc, _Verdict(WebhookOutcome.REJECTED, "body too large", 413, keep_body=False)
    event, kind = checks.event_of(inc.provider, inc.headers)
    inc = replace(inc, event=event, kind=kind)
    secrets = [inc.project.get_secret(name) for name in _SECRETS]
    try:
        checks.verify_signature(inc.provider, inc.headers, inc.body, secrets, now=time.time())
    except checks.SignatureError as exc:
        failed = f"signature check failed: {exc}"
        return inc, _Verdict(WebhookOutcome.REJECTED, failed, 401, keep_body=False)
    inc = replace(inc, signature_ok=True)
    return inc, _judge(inc)


def _judge(inc: _Incoming) -> _Verdict:
    """Everything after the signature (replays start here); reads, never writes."""
    if not inc.kind:
        return _Verdict(WebhookOutcome.REJECTED, "the event header is missing", 400)
    if inc.kind == "other":
        detail = f"event {inc.event!r} is not handled"
        return _Verdict(WebhookOutcome.IGNORED, detail, 204, claims=True)
    try:
        payload = checks.parse_payload(inc.body, inc.headers.get("content-type", ""))
        push = checks.parse_push(payload) if inc.kind == "push" else None
    except checks.PayloadError as exc:
        return _Verdict(WebhookOutcome.REJECTED, str(exc), 400)
    matches = checks.repo_matches(inc.project.repo_url, payload)
    if matches is False or (matches is None and push is not None):
        mismatch = "repository mismatch: the payload names another"
        return _Verdict(WebhookOutcome.REJECTED, mismatch, 403)
    if push is None:
        return _Verdict(WebhookOutcome.ACCEPTED, "pong", 200, claims=True)
    if push.deleted:
        return _Verdict(WebhookOutcome.IGNORED, "branch deletion", 200, push, claims=True)
    if push.ref != f"refs/heads/{inc.project.default_branch}":
        other = f"{push.ref} is not the default branch"
        return _Verdict(WebhookOutcome.IGNORED, other, 200, push, claims=True)
    queued = "stored; the analysis starts in a moment"
    return _Verdict(WebhookOutcome.QUEUED, queued, 202, push, claims=True)


def _store(inc: _Incoming, verdict: _Verdict) -> WebhookResult:
    """Write the ledger row, the request's only write."""
    delivery = _row(inc, verdict, first=verdict.claims)
    if not _insert(delivery):
        delivery = _duplicate_row(inc)
        _insert(delivery)
    return WebhookResult(delivery.status_code, delivery.outcome, delivery.detail, delivery)


def _insert(delivery: WebhookDelivery) -> bool:
    """Save `delivery`; False when it claims a delivery id another copy holds.

    One INSERT in autocommit: no transaction around it unless the caller has one (then a
    savepoint, so a failed claim does not break the caller's transaction).
    """
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with write_gate():
        try:
            with scope:
                delivery.save(force_insert=True)
        except IntegrityError:
            if not delivery.first:
                raise
            return False
    return True


def _row(inc: _Incoming, verdict: _Verdict, *, first: bool) -> WebhookDelivery:
    actor = inc.actor if inc.actor is not None and inc.actor.is_authenticated else None
    push = verdict.push
    return WebhookDelivery(
        project=inc.project,
        provider=inc.provider,
        delivery_id=inc.delivery_id,
        event=inc.event,
        signature_ok=inc.signature_ok,
        first=first,
        outcome=verdict.outcome,
        detail=verdict.detail,
        status_code=verdict.status,
        ref=push.ref if push else "",
        after_sha=push.after if push else "",
        body_sha256=checks.body_sha256(inc.body),
        body=inc.body if verdict.keep_body and inc.signature_ok else None,
        headers=checks.kept_headers(inc.headers),
        replay_of=inc.replay_of,
        replayed_by=actor,
        pending=True,
    )


def _duplicate_row(inc: _Incoming) -> WebhookDelivery:
    original = (
        WebhookDelivery.objects.filter(
            project=inc.project, provider=inc.provider, delivery_id=inc.delivery_id, first=True
        )
        .only("pk", "run_id")
        .first()
    )
    detail = f"already received as delivery #{original.pk}" if original else "already received"
    verdict = _Verdict(WebhookOutcome.DUPLICATE, detail, 200, keep_body=False)
    delivery = _row(inc, verdict, first=False)
    delivery.duplicate = True
    delivery.run_id = original.run_id if original else None
    return delivery


# --- Settling (the worker) ----------------------------------------------------------------

DRAIN_BATCH = 200


def webhooks_drain(*, project_id: int, batch: int = DRAIN_BATCH) -> int:
    """Settle the project's pending deliveries; returns how many were settled.

    Safe to run concurrently: each batch locks its rows (PostgreSQL skips rows another
    drain holds; SQLite runs one write transaction at a time).
    """
    total = 0
    while True:
        settled = _drain_batch(project_id, batch)
        total += settled
        if settled < batch:
            return total


def webhooks_reconcile(
    *, older_than: timedelta = timedelta(seconds=jobs.WEBHOOK_WAKE_TTL_S)
) -> int:
    """Settle deliveries whose drain never came (queue down, job lost). Scheduled.

    Older than the wake key's lifetime: until then a drain job may still come. A project
    whose drain fails is logged and left for the next round, never stopping the others.
    """
    cutoff = timezone.now() - older_than
    project_ids = list(
        WebhookDelivery.objects.filter(pending=True, received__lt=cutoff)
        .order_by()
        .values_list("project_id", flat=True)
        .distinct()
    )
    settled = 0
    for project_id in project_ids:
        try:
            settled += webhooks_drain(project_id=project_id)
        except Exception:
            logger.exception("webhook deliveries of project %s could not be settled", project_id)
    return settled


@write_transaction
def _drain_batch(project_id: int, limit: int) -> int:
    rows = list(
        WebhookDelivery.objects.select_for_update(skip_locked=True)
        .filter(project_id=project_id, pending=True)
        .defer("body")
        .order_by("id")[:limit]
    )
    if not rows:
        return 0  # none pending, or the project is gone (its deliveries went with it)
    # Deleting the project would delete the rows locked above, so it is still there.
    project = Project.objects.get(pk=project_id)
    actors = _actors(rows)
    queued = [row for row in rows if row.outcome == WebhookOutcome.QUEUED]
    if queued:
        _start_analysis(project, queued, actors)
    _link_duplicates(rows)
    for row in rows:
        row.pending = False
    WebhookDelivery.objects.bulk_update(rows, ["outcome", "detail", "run", "first", "pending"])
    audit_record_many([_audit_entry(project, row, actors.get(row.replayed_by_id)) for row in rows])
    return len(rows)


def _actors(rows: Sequence[WebhookDelivery]) -> dict[int | None, Actor]:
    ids = {row.replayed_by_id for row in rows if row.replayed_by_id is not None}
    return dict(get_user_model().objects.in_bulk(ids)) if ids else {}


def _start_analysis(
    project: Project, queued: Sequence[WebhookDelivery], actors: Mapping[int | None, Actor]
) -> None:
    """One run for the whole batch: started, or joined when an analysis is still queued."""
    actor = next((actors[r.replayed_by_id] for r in queued if r.replayed_by_id in actors), None)
    forge = [row for row in queued if row.replay_of_id is None]
    if forge:
        newest = max(forge, key=lambda row: (row.received, row.pk))
        Project.objects.filter(pk=project.pk).filter(
            Q(last_push_at__isnull=True) | Q(last_push_at__lte=newest.received)
        ).update(last_push_at=newest.received, last_push_sha=newest.after_sha)
    asked = timezone.now()
    try:
        run = run_create(
            project=project,
            kind=RunKind.ANALYZE,
            actor=actor,
            trigger=RunTrigger.WEBHOOK,
            coalesce=True,
        )
    except (RunBusy, RunError) as exc:
        # Not done: the claim goes back, so a redelivery of the same id is processed.
        outcome = WebhookOutcome.BUSY if isinstance(exc, RunBusy) else WebhookOutcome.ERROR
        for row in queued:
            row.outcome, row.detail, row.first = outcome, str(exc), False
        return
    # The first push of the batch started the run if run_create made a new one; every
    # other push joined it.
    starter = queued[0] if run.created >= asked else None
    for row in queued:
        what = "queued" if row is starter else "joined queued"
        row.outcome, row.detail, row.run = (
            WebhookOutcome.ACCEPTED,
            f"analysis {what} as run #{run.pk}",
            run,
        )


def _link_duplicates(rows: Sequence[WebhookDelivery]) -> None:
    """Duplicates point at the run their original started, once it has one: an original
    settled in this batch (not saved yet), else one settled before."""
    unlinked = [row for row in rows if row.duplicate and row.run_id is None]
    if not unlinked:
        return
    runs: dict[tuple[str, str], int | None] = {
        (r.provider, r.delivery_id): r.run_id for r in rows if r.first and r.run_id
    }
    missing = [row for row in unlinked if (row.provider, row.delivery_id) not in runs]
    if missing:
        keys = Q()
        for row in missing:
            keys |= Q(provider=row.provider, delivery_id=row.delivery_id)
        runs.update(
            ((o.provider, o.delivery_id), o.run_id)
            for o in WebhookDelivery.objects.filter(
                keys, project_id=missing[0].project_id, first=True
            ).only("provider", "delivery_id", "run_id")
        )
    for row in unlinked:
        row.run_id = runs.get((row.provider, row.delivery_id))


def _audit_entry(project: Project, delivery: WebhookDelivery, actor: Actor) -> AuditEntry:
    return AuditEntry(
        action=f"webhook.{delivery.outcome}",
        actor=actor,
        project=project,
        payload={
            "delivery": delivery.pk,
            "provider": delivery.provider,
            "delivery_id": delivery.delivery_id,
            "event": delivery.event,
            "status": delivery.status_code,
            "detail": delivery.detail[:300],
            "ref": delivery.ref,
            "after": delivery.after_sha,
            "run": delivery.run_id,
            "replay_of": delivery.replay_of_id,
            "received": delivery.received.isoformat(),
        },
    )


# --- Replay -----------------------------------------------------------------------------


def webhook_replay(*, delivery: WebhookDelivery, actor: Actor) -> WebhookResult:
    """Process a stored delivery again, as it arrived, except for the signature (which
    held when it arrived). A new ledger row marks it as a replay of the original; an
    active run is joined (queued analysis) or reported busy, never doubled. The replay
    is settled at once, so the person sees its result."""
    if not delivery.replayable or delivery.body is None:
        raise WebhookReplayError(
            "Only deliveries whose signature held and whose body was kept can be replayed."
        )
    original = delivery.replay_of or delivery
    event, kind = checks.event_of(delivery.provider, delivery.headers)
    inc = _Incoming(
        project=Project.objects.get(pk=delivery.project_id),  # current settings
        provider=delivery.provider,
        headers=delivery.headers,
        body=bytes(delivery.body),
        delivery_id=delivery.delivery_id,
        event=event,
        kind=kind,
        signature_ok=True,
        replay_of=original,
        actor=actor,
    )
    replayed = _row(inc, _judge(inc), first=False)
    _insert(replayed)
    webhooks_drain(project_id=inc.project.pk)
    replayed.refresh_from_db()
    return WebhookResult(replayed.status_code, replayed.outcome, replayed.detail, replayed)
