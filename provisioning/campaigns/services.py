"""Campaigns: one kind of run over many projects, a few at a time.

A campaign's items start as *pending*; `campaign_advance` starts runs for them while
fewer than `concurrency` are active, skipping (for now) projects that have another run
active (the one-active-run rule), and settles items whose run finished. It runs when the
campaign is created, after every run of a campaign ends (the run job calls
`campaign_run_settled`) and every minute from the reconciler, so a lost hook delays a
campaign by at most a minute. One approval covers the whole campaign: the approver's
right to approve is checked on each project, and a project they may not approve waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from bmadweb.audit import audit_record
from projects.models import Project
from projects.roles import Perm
from projects.selectors import project_ids_user_can
from provisioning.campaigns.selectors import campaign_running_ids
from provisioning.models import (
    ACTIVE_STATUSES,
    Campaign,
    CampaignItem,
    CampaignItemState,
    CampaignStatus,
    Run,
    RunKind,
    RunStatus,
    RunTrigger,
)
from provisioning.notifications.emit import notify_campaign_finished
from provisioning.runs.lifecycle import RunBusy, RunError
from provisioning.runs.services import (
    KIND_PERM,
    run_approve,
    run_cancel,
    run_create,
    target_version_checked,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Actor = User | AnonymousUser

MAX_CONCURRENCY = 50
_OK = (RunStatus.SUCCEEDED, RunStatus.PUSHED, RunStatus.NO_CHANGES, RunStatus.NEEDS_ATTENTION)


class CampaignError(Exception):
    """A campaign request that cannot be done, in a plain sentence."""


def _audit(campaign: Campaign, action: str, actor: Actor | None, **extra: object) -> None:
    audit_record(
        action=f"campaign.{action}",
        actor=actor,
        payload={"campaign": campaign.pk, "name": campaign.name, "kind": campaign.kind, **extra},
    )


def kind_perm(kind: str) -> Perm:
    """The permission a campaign of `kind` needs on each project: a run's."""
    return KIND_PERM.get(kind, Perm.PROVISION)


def campaign_create(
    *,
    actor: Actor,
    name: str,
    kind: str,
    projects: Sequence[Project],
    concurrency: int = 4,
    selection: Mapping[str, Any] | None = None,
    target_version: str = "",
) -> Campaign:
    """A running campaign over `projects`; its first runs start once this commits.
    Every project must allow `actor` the campaign's run kind."""
    if kind not in RunKind.values:
        raise CampaignError(f"unknown run kind {kind!r}")
    if not projects:
        raise CampaignError("Select at least one project.")
    try:
        target_version = target_version_checked(kind, target_version)
    except RunError as exc:
        raise CampaignError(str(exc)) from None
    allowed = project_ids_user_can(actor, kind_perm(kind), [p.pk for p in projects])
    refused = [p.slug for p in projects if p.pk not in allowed]
    if refused:
        raise CampaignError(f"You may not start {kind} runs on: {', '.join(refused[:10])}.")
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name[:120] or f"{kind} campaign",
            kind=kind,
            target_version=target_version,
            concurrency=max(1, min(concurrency, MAX_CONCURRENCY)),
            selection=dict(selection or {}),
            created_by=actor if actor.is_authenticated else None,
        )
        CampaignItem.objects.bulk_create(
            [CampaignItem(campaign=campaign, project=p) for p in projects]
        )
        _audit(
            campaign,
            "create",
            actor,
            projects=[p.slug for p in projects[:200]],
            count=len(projects),
            concurrency=campaign.concurrency,
            selection=campaign.selection,
        )
        transaction.on_commit(partial(campaign_advance, campaign_id=campaign.pk))
    return campaign


def _settle(item: CampaignItem) -> None:
    run = item.run
    if run is None or run.status in ACTIVE_STATUSES:
        return
    if run.status in _OK:
        item.state = CampaignItemState.DONE
    elif run.status == RunStatus.CANCELLED:
        item.state = CampaignItemState.CANCELLED
    else:
        item.state = CampaignItemState.FAILED
    item.detail = run.failure_reason[:300]
    item.save(update_fields=["state", "detail"])


def _start(campaign: Campaign, item: CampaignItem) -> bool:
    try:
        run = run_create(
            project=item.project,
            kind=RunKind(campaign.kind),
            actor=campaign.created_by,
            trigger=RunTrigger.CAMPAIGN,
            target_version=campaign.target_version,
            campaign=campaign,
        )
    except RunBusy:
        return False  # another run is active on this project: try again later
    except RunError as exc:
        item.state, item.detail = CampaignItemState.FAILED, str(exc)[:300]
        item.save(update_fields=["state", "detail"])
        return False
    item.run, item.state, item.detail = run, CampaignItemState.ACTIVE, ""
    item.attempts += 1
    item.save(update_fields=["run", "state", "detail", "attempts"])
    return True


def _approve_waiting(campaign: Campaign, approver: Actor) -> tuple[list[str], list[str]]:
    approved: list[str] = []
    refused: list[str] = []
    waiting = campaign.items.filter(
        state=CampaignItemState.ACTIVE, run__status=RunStatus.AWAITING_APPROVAL
    ).select_related("project", "run")
    items = list(waiting)
    allowed = project_ids_user_can(approver, Perm.APPROVE, [i.project_id for i in items])
    for item in items:
        assert item.run is not None
        if item.project_id not in allowed:
            refused.append(item.project.slug)
            continue
        try:
            run_approve(run=item.run, actor=approver)
        except RunError:
            continue
        approved.append(item.project.slug)
    return approved, refused


def campaign_advance(*, campaign_id: int) -> int:
    """Settle finished items, start runs up to the concurrency limit, approve what the
    campaign's approver may approve, and finish the campaign when nothing is left."""
    started = 0
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or campaign.status != CampaignStatus.RUNNING:
            return 0
        for item in campaign.items.filter(state=CampaignItemState.ACTIVE).select_related("run"):
            _settle(item)
        active = campaign.items.filter(state=CampaignItemState.ACTIVE).count()
        pending = campaign.items.filter(state=CampaignItemState.PENDING).select_related("project")
        # Read in chunks: the loop stops as soon as the limit is reached.
        for item in pending.order_by("pk").iterator(chunk_size=50):
            if active >= campaign.concurrency:
                break
            if _start(campaign, item):
                active += 1
                started += 1
        if campaign.approved_by is not None:
            _approve_waiting(campaign, campaign.approved_by)
        left = campaign.items.filter(
            state__in=(CampaignItemState.PENDING, CampaignItemState.ACTIVE)
        ).exists()
        if not left:
            campaign.status, campaign.finished = CampaignStatus.FINISHED, timezone.now()
            campaign.save(update_fields=["status", "finished"])
            notify_campaign_finished(campaign)  # sent after this transaction commits
    return started


def campaign_run_settled(*, run_id: int) -> None:
    """The run-end hook: a campaign's run moved on, so the campaign may too."""
    campaign_id = Run.objects.filter(pk=run_id).values_list("campaign_id", flat=True).first()
    if campaign_id is not None:
        campaign_advance(campaign_id=campaign_id)


def campaigns_advance() -> None:
    """The reconciler's pass over running campaigns (hooks that were lost)."""
    for campaign_id in campaign_running_ids():
        campaign_advance(campaign_id=campaign_id)


def campaign_approve(*, campaign: Campaign, actor: Actor) -> tuple[list[str], list[str]]:
    """One approval for the campaign: the plans waiting now and those to come, on each
    project where `actor` holds the approver's right. Returns (approved, refused) slugs."""
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(
            approved_by=actor, approved_at=timezone.now()
        )
        campaign.refresh_from_db()
        approved, refused = _approve_waiting(campaign, actor)
        _audit(campaign, "approve", actor, approved=approved[:200], refused=refused[:200])
        return approved, refused


def campaign_retry(*, campaign: Campaign, actor: Actor) -> int:
    """Failed (and cancelled) projects go back to pending; the campaign runs again."""
    with transaction.atomic():
        again = campaign.items.filter(
            state__in=(CampaignItemState.FAILED, CampaignItemState.CANCELLED)
        ).update(state=CampaignItemState.PENDING, detail="")
        if again:
            Campaign.objects.filter(pk=campaign.pk).update(
                status=CampaignStatus.RUNNING, finished=None
            )
            transaction.on_commit(partial(campaign_advance, campaign_id=campaign.pk))
        _audit(campaign, "retry", actor, count=again)
    return again


def campaign_cancel(*, campaign: Campaign, actor: Actor) -> None:
    """Stop starting runs; cancel the campaign's queued or waiting runs (running ones
    finish on their own)."""
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(
            status=CampaignStatus.CANCELLED, finished=timezone.now()
        )
        skipped = campaign.items.filter(state=CampaignItemState.PENDING).update(
            state=CampaignItemState.CANCELLED
        )
        _audit(campaign, "cancel", actor, not_started=skipped)
        active = campaign.items.filter(state=CampaignItemState.ACTIVE).select_related("run")
        for item in active:
            if item.run is not None and item.run.status in (
                RunStatus.QUEUED,
                RunStatus.AWAITING_APPROVAL,
            ):
                try:
                    run_cancel(run=item.run, actor=actor)
                except RunError:
                    continue
                item.state = CampaignItemState.CANCELLED
                item.save(update_fields=["state"])
