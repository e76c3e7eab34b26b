"""The webhook receiver's services: check and record in the request; audit and start
analyses in the worker.

The request (docs/architecture.md#webhook-flow, docs/security.md#s11 to #s13): size cap →
signature (raw body, constant time, current or previous secret) → event allowlist (ping,
push, pull/merge request; anything else acknowledged and ignored) → JSON → repository
match → one INSERT into the ledger → wake the project's drain job. A push to the default
branch and a pull request opened, merged or closed are answered 202 "queued"; pings,
other events, branches and deletions are answered at once.

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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from django.db import IntegrityError, connection, transaction

from projects.models import Project
from provisioning import queue
from provisioning.models import (
    WebhookDelivery,
    WebhookOutcome,
)
from provisioning.webhooks import checks
from provisioning.webhooks.refusals import refusal_note
from provisioning.webhooks.write_gate import write_gate

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Actor = User | AnonymousUser | None

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookResult:
    status: int
    outcome: str
    detail: str
    delivery: WebhookDelivery | None = None
    retry_after: int | None = None

    @property
    def run_id(self) -> int | None:
        return self.delivery.run_id if self.delivery is not None else None


@dataclass(frozen=True)
class Incoming:
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
    source: str = ""


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


# --- Receiving (the request) ------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the request decided; `claims` when it completes the delivery id."""

    outcome: str
    detail: str
    status: int
    push: checks.Push | None = None
    claims: bool = False
    keep_body: bool = True
    unproven: bool = False  # nothing proved the forge sent it: counted per source
    pull: checks.PullRequest | None = None


def webhook_receive(
    *,
    provider: str,
    project_uid: uuid.UUID | str,
    headers: Mapping[str, str],
    body: bytes | None,
    source: str = "",
) -> WebhookResult:
    """Handle one request on /hooks/<provider>/<project uid>/.

    `headers` has lower-cased names; `body` is the raw body, or None when it was larger
    than BMADWEB_WEBHOOK_MAX_BYTES (it was then never read); `source` is the client
    address. Unknown project or provider → 404 and nothing recorded. A request that
    proves nothing (bad signature, too large) is counted per source and, past the limit,
    answered 429 without a ledger row (refusals.py). Unexpected failures are recorded as
    *error* and answered 503, so the forge retries.
    """
    project = webhook_project(provider=provider, project_uid=project_uid)
    if project is None:
        return NOT_FOUND
    raw = body if body is not None else b""
    inc = Incoming(
        project=project,
        provider=provider,
        headers=headers,
        body=raw,
        delivery_id=checks.delivery_id_of(provider, headers, raw),
        source=source,
    )
    try:
        inc, verdict = _check(inc, too_large=body is None)
        if verdict.unproven:
            wait = refusal_note(
                project=project, provider=provider, source=source, reason=verdict.detail
            )
            if wait:
                detail = "too many refused deliveries from this address; try again later"
                return WebhookResult(429, WebhookOutcome.REJECTED, detail, retry_after=wait)
        result = _store(inc, verdict)
    except Exception:  # the receiver never answers 500: record, then let the forge retry
        logger.exception("webhook delivery %s for %s failed", inc.delivery_id, project.slug)
        error = Verdict(
            WebhookOutcome.ERROR, "internal error, the sender may retry", 503, keep_body=False
        )
        result = _store(inc, error)
    queue.webhook_wake(project_id=project.pk)
    return result


def _check(inc: Incoming, *, too_large: bool) -> tuple[Incoming, Verdict]:
    if too_large:
        too_big = Verdict(WebhookOutcome.REJECTED, "body too large", 413, keep_body=False)
        return inc, replace(too_big, unproven=True)
    event, kind = checks.event_of(inc.provider, inc.headers)
    inc = replace(inc, event=event, kind=kind)
    secrets = [inc.project.get_secret(name) for name in _SECRETS]
    try:
        checks.verify_signature(inc.provider, inc.headers, inc.body, secrets, now=time.time())
    except checks.SignatureError as exc:
        failed = f"signature check failed: {exc}"
        verdict = Verdict(WebhookOutcome.REJECTED, failed, 401, keep_body=False, unproven=True)
        return inc, verdict
    inc = replace(inc, signature_ok=True)
    return inc, judge(inc)


def judge(inc: Incoming) -> Verdict:
    """Everything after the signature (replays start here); reads, never writes."""
    pull: checks.PullRequest | None = None
    if not inc.kind:
        return Verdict(WebhookOutcome.REJECTED, "the event header is missing", 400)
    if inc.kind == "other":
        detail = f"event {inc.event!r} is not handled"
        return Verdict(WebhookOutcome.IGNORED, detail, 204, claims=True)
    try:
        payload = checks.parse_payload(inc.body, inc.headers.get("content-type", ""))
        push = checks.parse_push(payload) if inc.kind == "push" else None
        if inc.kind == "pull_request":
            pull = checks.parse_pull_request(inc.provider, payload)
    except checks.PayloadError as exc:
        return Verdict(WebhookOutcome.REJECTED, str(exc), 400)
    matches = checks.repo_matches(inc.project.repo_url, payload)
    if matches is False or (matches is None and inc.kind in ("push", "pull_request")):
        mismatch = "repository mismatch: the payload names another"
        return Verdict(WebhookOutcome.REJECTED, mismatch, 403)
    if inc.kind == "pull_request":
        return _judge_pull(pull)
    if push is None:
        return Verdict(WebhookOutcome.ACCEPTED, "pong", 200, claims=True)
    if push.deleted:
        return Verdict(WebhookOutcome.IGNORED, "branch deletion", 200, push, claims=True)
    if push.ref != f"refs/heads/{inc.project.default_branch}":
        other = f"{push.ref} is not the default branch"
        return Verdict(WebhookOutcome.IGNORED, other, 200, push, claims=True)
    queued = "stored; the analysis starts in a moment"
    return Verdict(WebhookOutcome.QUEUED, queued, 202, push, claims=True)


def _judge_pull(pull: checks.PullRequest | None) -> Verdict:
    if pull is None:
        return Verdict(WebhookOutcome.IGNORED, "this action changes no state", 200, claims=True)
    if pull.foreign:
        other = "the pull request comes from another repository"
        return Verdict(WebhookOutcome.IGNORED, other, 200, claims=True, pull=pull)
    queued = f"stored; the pull request state ({pull.state}) is recorded in a moment"
    return Verdict(WebhookOutcome.QUEUED, queued, 202, claims=True, pull=pull)


def _store(inc: Incoming, verdict: Verdict) -> WebhookResult:
    """Write the ledger row, the request's only write (besides the refusal counter).
    Unproven requests are audited through their counter, not one by one."""
    delivery = delivery_row(inc, verdict, first=verdict.claims)
    delivery.pending = not verdict.unproven
    if not ledger_insert(delivery):
        delivery = _duplicate_row(inc)
        ledger_insert(delivery)
    return WebhookResult(delivery.status_code, delivery.outcome, delivery.detail, delivery)


def ledger_insert(delivery: WebhookDelivery) -> bool:
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


def delivery_row(inc: Incoming, verdict: Verdict, *, first: bool) -> WebhookDelivery:
    actor = inc.actor if inc.actor is not None and inc.actor.is_authenticated else None
    push, pull = verdict.push, verdict.pull
    ref = push.ref if push else (f"refs/heads/{pull.branch}"[:255] if pull else "")
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
        ref=ref,
        after_sha=push.after if push else "",
        body_sha256=checks.body_sha256(inc.body),
        body=inc.body if verdict.keep_body and inc.signature_ok else None,
        headers=checks.kept_headers(inc.headers),
        replay_of=inc.replay_of,
        replayed_by=actor,
        pending=True,
    )


def _duplicate_row(inc: Incoming) -> WebhookDelivery:
    original = (
        WebhookDelivery.objects.filter(
            project=inc.project, provider=inc.provider, delivery_id=inc.delivery_id, first=True
        )
        .only("pk", "run_id")
        .first()
    )
    detail = f"already received as delivery #{original.pk}" if original else "already received"
    verdict = Verdict(WebhookOutcome.DUPLICATE, detail, 200, keep_body=False)
    delivery = delivery_row(inc, verdict, first=False)
    delivery.duplicate = True
    delivery.run_id = original.run_id if original else None
    return delivery
