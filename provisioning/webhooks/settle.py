"""The worker side of webhooks: settle pending deliveries in batches (audit, start or join
the analysis, move 'last push seen', record pull request states), reconcile what no
drain job saw, and replay.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import F, Q
from django.utils import timezone

from bmadweb.audit import AuditEntry, audit_record_many
from projects.models import Project
from provisioning import queue
from provisioning.models import (
    RunKind,
    RunTrigger,
    WebhookDelivery,
    WebhookOutcome,
    WebhookRefusal,
)
from provisioning.runs.lifecycle import RunBusy, RunError, run_pr_state_record
from provisioning.runs.services import run_create
from provisioning.webhooks import checks
from provisioning.webhooks.refusals import refusals_audit
from provisioning.webhooks.write_gate import write_transaction

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Actor = User | AnonymousUser | None

logger = logging.getLogger(__name__)


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
            break
    refusals_audit(project_id=project_id)  # refused requests: one record per source
    return total


def webhooks_reconcile(
    *, older_than: timedelta = timedelta(seconds=queue.WEBHOOK_WAKE_TTL_S)
) -> int:
    """Settle deliveries whose drain never came (queue down, job lost). Scheduled.

    Older than the wake key's lifetime: until then a drain job may still come. A project
    whose drain fails is logged and left for the next round, never stopping the others.
    """
    cutoff = timezone.now() - older_than
    project_ids = set(
        WebhookDelivery.objects.filter(pending=True, received__lt=cutoff)
        .order_by()
        .values_list("project_id", flat=True)
        .distinct()
    ) | set(
        WebhookRefusal.objects.filter(refused__gt=F("audited"), last_at__lt=cutoff)
        .order_by()
        .values_list("project_id", flat=True)
        .distinct()
    )
    settled = 0
    for project_id in sorted(project_ids):
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
    pulls = [row for row in queued if checks.kind_of(row.provider, row.event) == "pull_request"]
    pushes = [row for row in queued if row not in pulls]
    if pushes:
        _start_analysis(project, pushes, actors)
    if pulls:
        _record_pull_requests(project, pulls, actors)
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
            # A push to a project without a manifest is not analysed: the delivery keeps
            # its id unclaimed, so a redelivery after the manifest is saved starts one.
            require_manifest=True,
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


def _record_pull_requests(
    project: Project, rows: Sequence[WebhookDelivery], actors: Mapping[int | None, Actor]
) -> None:
    """Each pull request event moves the state of the run whose branch (or pull request
    address) it names; the body, read again here, is the signed one the request judged."""
    bodies = dict(
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).values_list("pk", "body")
    )
    for row in rows:
        try:
            payload = checks.parse_payload(
                bytes(bodies.get(row.pk) or b""), row.headers.get("content-type", "")
            )
            pull = checks.parse_pull_request(row.provider, payload)
        except checks.PayloadError as exc:
            row.outcome, row.detail = WebhookOutcome.ERROR, str(exc)
            continue
        if pull is None:
            row.outcome, row.detail = WebhookOutcome.IGNORED, "this action changes no state"
            continue
        run = run_pr_state_record(
            project=project,
            branch=pull.branch,
            url=pull.url,
            state=pull.state,
            at=row.received,
            actor=actors.get(row.replayed_by_id),
        )
        if run is None:
            row.outcome = WebhookOutcome.IGNORED
            row.detail = f"no run of this project opened a pull request from {pull.branch}"
            continue
        row.outcome, row.run = WebhookOutcome.ACCEPTED, run
        row.detail = f"pull request of run #{run.pk}: {pull.state}"


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
