"""The webhook receiver's services: check, record, dedupe, start analyses, replay.

Order of business for one request (PRODUCT.md section 5, SECURITY.md sections 11-13):
size cap → signature (raw body, constant time, current or previous secret) → event
allowlist (ping, push; anything else acknowledged and ignored) → JSON → repository match
→ ping answered / push to the default branch starts an analysis (bursts coalesce into
the queued run), other branches and deletions ignored.

Every request for a known project leaves a `WebhookDelivery` row and an audit record
``webhook.<outcome>``. The first copy of a delivery that is processed claims its
(project, provider, delivery id) through a partial unique index, in the same
transaction as the run it starts; copies that arrive meanwhile wait for that
transaction and then see the claim, so they are recorded as duplicates and never start
a second run. Outcomes that did not finish the delivery (busy, error, rejected) do not
claim it, so the forge's retry is processed again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from bmadweb.audit import audit_record
from projects.models import Project
from provisioning import webhook_checks as checks
from provisioning.models import (
    Run,
    RunKind,
    RunTrigger,
    WebhookDelivery,
    WebhookOutcome,
)
from provisioning.services import RunBusy, RunError, run_create
from provisioning.write_gate import write_transaction

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

    @property
    def claims(self) -> bool:
        return self.replay_of is None  # replays re-process on purpose


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
        WebhookDelivery.objects.filter(project=project)
        .select_related("run", "replay_of")
        .defer("body")
        .order_by("-received", "-id")
    )


def delivery_for(*, project: Project, delivery_pk: int) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(project=project, pk=delivery_pk).first()


# --- Receiving --------------------------------------------------------------------------


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
        return _receive(inc, too_large=body is None)
    except Exception:  # the receiver never answers 500: record, then let the forge retry
        logger.exception("webhook delivery %s for %s failed", inc.delivery_id, project.slug)
        return _record(
            inc, WebhookOutcome.ERROR, "internal error, the sender may retry", 503, keep_body=False
        )


def _receive(inc: _Incoming, *, too_large: bool) -> WebhookResult:
    if too_large:
        return _record(inc, WebhookOutcome.REJECTED, "body too large", 413, keep_body=False)
    event, kind = checks.event_of(inc.provider, inc.headers)
    inc = replace(inc, event=event, kind=kind)
    secrets = [inc.project.get_secret(name) for name in _SECRETS]
    try:
        checks.verify_signature(inc.provider, inc.headers, inc.body, secrets, now=time.time())
    except checks.SignatureError as exc:
        return _record(
            inc, WebhookOutcome.REJECTED, f"signature check failed: {exc}", 401, keep_body=False
        )
    return _process(replace(inc, signature_ok=True))


def _process(inc: _Incoming) -> WebhookResult:
    """Everything after the signature (replays start here)."""
    if not inc.kind:
        return _record(inc, WebhookOutcome.REJECTED, "the event header is missing", 400)
    if inc.kind == "other":
        return _finish(inc, WebhookOutcome.IGNORED, f"event {inc.event!r} is not handled", 204)
    try:
        payload = checks.parse_payload(inc.body, inc.headers.get("content-type", ""))
        push = checks.parse_push(payload) if inc.kind == "push" else None
    except checks.PayloadError as exc:
        return _record(inc, WebhookOutcome.REJECTED, str(exc), 400)
    matches = checks.repo_matches(inc.project.repo_url, payload)
    if matches is False or (matches is None and push is not None):
        return _record(
            inc, WebhookOutcome.REJECTED, "repository mismatch: the payload names another", 403
        )
    if push is None:
        return _finish(inc, WebhookOutcome.ACCEPTED, "pong", 200)
    if push.deleted:
        return _finish(inc, WebhookOutcome.IGNORED, "branch deletion", 200, push=push)
    if push.ref != f"refs/heads/{inc.project.default_branch}":
        return _finish(
            inc, WebhookOutcome.IGNORED, f"{push.ref} is not the default branch", 200, push=push
        )
    return _start_analysis(inc, push)


@write_transaction
def _finish(
    inc: _Incoming, outcome: str, detail: str, status: int, *, push: checks.Push | None = None
) -> WebhookResult:
    """Record an outcome that completes the delivery (claiming it) or a duplicate."""
    delivery = _claim(inc, outcome=outcome, detail=detail, status=status, push=push)
    if delivery is None:
        return _duplicate(inc)
    _audit(inc, delivery)
    return WebhookResult(status, outcome, detail, delivery)


@write_transaction
def _start_analysis(inc: _Incoming, push: checks.Push) -> WebhookResult:
    """Claim the delivery and start (or join) an analysis, in one transaction: the claim
    commits only together with its run, whose job is enqueued on commit."""
    delivery = _claim(inc, outcome=WebhookOutcome.ACCEPTED, detail="", status=202, push=push)
    if delivery is None:
        return _duplicate(inc)
    if inc.claims:
        Project.objects.filter(pk=inc.project.pk).update(
            last_push_at=delivery.received, last_push_sha=push.after
        )
    try:
        run = run_create(
            project=inc.project,
            kind=RunKind.ANALYZE,
            actor=inc.actor,
            trigger=RunTrigger.WEBHOOK,
            coalesce=True,
        )
    except RunBusy as exc:
        _settle(delivery, WebhookOutcome.BUSY, str(exc), 202)
    except RunError as exc:
        _settle(delivery, WebhookOutcome.ERROR, str(exc), 200)
    else:
        joined = run.created < delivery.received
        what = "joined queued" if joined else "queued"
        _settle(delivery, WebhookOutcome.ACCEPTED, f"analysis {what} as run #{run.pk}", 202, run)
    _audit(inc, delivery)
    return WebhookResult(delivery.status_code, delivery.outcome, delivery.detail, delivery)


def _settle(
    delivery: WebhookDelivery, outcome: str, detail: str, status: int, run: Run | None = None
) -> None:
    # Only a delivery whose run was started (or joined) is done; busy/error give the
    # claim back so that a retry of the same delivery is processed again.
    delivery.outcome, delivery.detail, delivery.status_code, delivery.run = (
        outcome,
        detail,
        status,
        run,
    )
    delivery.first = delivery.first and outcome == WebhookOutcome.ACCEPTED
    delivery.save(update_fields=["outcome", "detail", "status_code", "run", "first"])


def _row(
    inc: _Incoming,
    outcome: str,
    detail: str,
    status: int,
    *,
    push: checks.Push | None = None,
    keep_body: bool = True,
    **fields: Any,
) -> WebhookDelivery:
    actor = inc.actor if inc.actor is not None and inc.actor.is_authenticated else None
    return WebhookDelivery(
        project=inc.project,
        provider=inc.provider,
        delivery_id=inc.delivery_id,
        event=inc.event,
        signature_ok=inc.signature_ok,
        outcome=outcome,
        detail=detail,
        status_code=status,
        ref=push.ref if push else "",
        after_sha=push.after if push else "",
        body_sha256=checks.body_sha256(inc.body),
        body=inc.body if keep_body and inc.signature_ok else None,
        headers=checks.kept_headers(inc.headers),
        replay_of=inc.replay_of,
        replayed_by=actor,
        **fields,
    )


def _claim(
    inc: _Incoming, *, outcome: str, detail: str, status: int, push: checks.Push | None
) -> WebhookDelivery | None:
    """Insert the row that processes this delivery; None when another copy holds it."""
    delivery = _row(inc, outcome, detail, status, push=push, first=inc.claims)
    if not inc.claims:
        delivery.save()
        return delivery
    try:
        with transaction.atomic():
            delivery.save()
    except IntegrityError:
        return None
    return delivery


def _duplicate(inc: _Incoming) -> WebhookResult:
    original = WebhookDelivery.objects.filter(
        project=inc.project, provider=inc.provider, delivery_id=inc.delivery_id, first=True
    ).first()
    detail = f"already processed as delivery #{original.pk}" if original else "already processed"
    return _record(
        inc,
        WebhookOutcome.DUPLICATE,
        detail,
        200,
        keep_body=False,
        duplicate=True,
        run_id=original.run_id if original else None,
    )


@write_transaction
def _record(inc: _Incoming, outcome: str, detail: str, status: int, **fields: Any) -> WebhookResult:
    """Record an outcome that does not claim the delivery."""
    delivery = _row(inc, outcome, detail, status, **fields)
    delivery.save()
    _audit(inc, delivery)
    return WebhookResult(status, outcome, detail, delivery)


def _audit(inc: _Incoming, delivery: WebhookDelivery) -> None:
    audit_record(
        action=f"webhook.{delivery.outcome}",
        actor=inc.actor,
        project=inc.project,
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
        },
    )


# --- Replay -----------------------------------------------------------------------------


def webhook_replay(*, delivery: WebhookDelivery, actor: Actor) -> WebhookResult:
    """Process a stored delivery again, as it arrived, except for the signature (which
    held when it arrived). A new ledger row marks it as a replay of the original; an
    active run is joined (queued analysis) or reported busy, never doubled."""
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
    return _process(inc)
