"""The four events: which targets hear of them, what they say, and when they are queued
(docs/architecture.md#notifications).

Each hook writes one delivery row per interested target, in the caller's transaction
(a rolled-back run change notifies nobody), and enqueues the rows' jobs once that
transaction commits: nothing is sent from a request or inside a run's transaction.

* ``drift_found``: an analysis run found drift (or conflicts) and the previous analysis
  of the project did not (or there was none). A project that stays drifted is not
  announced again at every scheduled check (docs/decisions.md#d48).
* ``run_failed``: a run ended *failed* or *errored*.
* ``approval_needed``: a run reached *awaiting approval*, unless its campaign is approved
  by someone who may approve this project (the campaign approves it at once).
* ``campaign_finished``: a campaign finished; one delivery per target of its projects
  (and of the bases their runs resolved), whatever the number of projects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from projects.models import SyncStatus
from provisioning import queue
from provisioning.models import Campaign, CampaignItem, Run, RunKind
from provisioning.notifications.models import (
    NotificationDelivery,
    NotificationEvent,
    NotificationTarget,
)

if TYPE_CHECKING:
    from projects.models import Project

OUT_OF_SYNC = (SyncStatus.DRIFT.value, SyncStatus.CONFLICT.value)
MAX_TEXT = 600


def site_link(path: str) -> str:
    """An absolute link when BMADWEB_SITE_URL is set, else the path."""
    return f"{settings.SITE_URL}{path}" if settings.SITE_URL else path


def targets_for(
    event: str, *, project_ids: Iterable[int], base_names: Iterable[str]
) -> list[NotificationTarget]:
    """Enabled targets of these projects and bases that want `event`."""
    names = sorted(set(base_names))
    ids = sorted(set(project_ids))
    query = Q(project_id__in=ids) | Q(base__name__in=names) if names else Q(project_id__in=ids)
    found = NotificationTarget.objects.filter(query, enabled=True).order_by("pk")
    # A handful per project: filtered here (JSON containment differs per database).
    return [target for target in found if event in (target.events or [])]


def deliveries_queue(
    targets: Sequence[NotificationTarget],
    event: str,
    payload: dict[str, Any],
    *,
    project: Project | None = None,
    run: Run | None = None,
    campaign: Campaign | None = None,
) -> list[NotificationDelivery]:
    """One queued row per target; their jobs are enqueued when the transaction commits."""
    if not targets:
        return []
    rows = NotificationDelivery.objects.bulk_create(
        NotificationDelivery(
            target=target,
            event=event,
            project=project,
            run=run,
            campaign=campaign,
            payload=payload,
        )
        for target in targets
    )
    ids = [row.pk for row in rows]
    # robust: an enqueue that fails is logged, never fails the request or the run; the
    # reconciler enqueues the rows later.
    transaction.on_commit(partial(_enqueue_all, ids), robust=True)
    return rows


def _enqueue_all(ids: list[int]) -> None:
    for delivery_id in ids:
        queue.notification_enqueue(delivery_id=delivery_id)


def _run_payload(run: Run, event: str, title: str, text: str) -> dict[str, Any]:
    project = run.project
    return {
        "event": event,
        "title": title,
        "text": text[:MAX_TEXT],
        "project": {"slug": project.slug, "name": project.name},
        "run": {"id": run.pk, "kind": run.kind, "status": run.status},
        "url": site_link(run.get_absolute_url()),
    }


def _notify_run(run: Run, event: str, title: str, text: str) -> None:
    targets = targets_for(
        event, project_ids=[run.project_id], base_names=(run.base_revisions or {}).keys()
    )
    payload = _run_payload(run, event, title, text)
    deliveries_queue(targets, event, payload, project=run.project, run=run)


def notify_run_failed(run: Run) -> None:
    reason = run.failure_reason or "no reason recorded"
    title = f"{run.project.name}: {run.get_kind_display().lower()} run #{run.pk} {run.status}"
    _notify_run(run, NotificationEvent.RUN_FAILED, title, f"{title}: {reason}")


def notify_approval_needed(run: Run) -> None:
    campaign = run.campaign
    approver = campaign.approved_by if campaign is not None else None
    if approver is not None and approver.has_perm("projects.approve_run", run.project):
        return  # the campaign's approval covers it, at its next step
    operations = len((run.plan or {}).get("operations", []))
    title = f"{run.project.name}: run #{run.pk} awaits approval"
    text = f"{title} ({operations} file operation{'s' if operations != 1 else ''})."
    _notify_run(run, NotificationEvent.APPROVAL_NEEDED, title, text)


def _previous_status(run: Run) -> str | None:
    """The sync status of the project's analysis before `run` (install audits skipped)."""
    status = (
        Run.objects.filter(
            project_id=run.project_id, report__isnull=False, created__lte=run.created
        )
        .exclude(pk=run.pk)
        .exclude(report__audit=True)
        .order_by("-created", "-pk")
        .values_list("report__status", flat=True)
        .first()
    )
    return str(status) if status else None


def notify_drift_found(run: Run, report: dict[str, Any]) -> None:
    """After an analysis recorded `report`: announce drift that is new."""
    status = report.get("status")
    if run.kind != RunKind.ANALYZE or report.get("audit") or status not in OUT_OF_SYNC:
        return
    if _previous_status(run) in OUT_OF_SYNC:
        return
    counts = report.get("counts") or {}
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "see the report"
    title = f"{run.project.name}: drift found"
    text = f"{title} on {run.project.default_branch} ({summary})."
    _notify_run(run, NotificationEvent.DRIFT_FOUND, title, text)


def notify_campaign_finished(campaign: Campaign) -> None:
    items = list(
        CampaignItem.objects.filter(campaign=campaign).values_list(
            "project_id", "state", "run__base_revisions"
        )
    )
    bases: set[str] = set()
    states: dict[str, int] = {}
    for _, state, revisions in items:
        bases.update((revisions or {}).keys())
        states[state] = states.get(state, 0) + 1
    event = NotificationEvent.CAMPAIGN_FINISHED
    targets = targets_for(event, project_ids=[p for p, _, _ in items], base_names=bases)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    title = f"Campaign {campaign.name} finished"
    payload = {
        "event": event.value,
        "title": title,
        "text": f"{title}: {summary or 'no projects'}."[:MAX_TEXT],
        "campaign": {"id": campaign.pk, "name": campaign.name, "kind": campaign.kind},
        "counts": states,
        "url": site_link(campaign.get_absolute_url()),
    }
    deliveries_queue(targets, event, payload, campaign=campaign)
