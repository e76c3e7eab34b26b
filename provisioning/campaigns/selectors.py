"""Reads of campaigns (the ones a person may see, their progress and their projects) and
of the fleet view (counts by status and BMAD version, approvals waiting, campaigns)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, Q, QuerySet

from projects.models import Project, SyncStatus
from projects.roles import Perm
from projects.selectors import project_list_for_dashboard, project_list_for_user
from provisioning.models import (
    Campaign,
    CampaignItem,
    CampaignItemState,
    CampaignStatus,
    PullRequestState,
    Run,
    RunStatus,
)
from provisioning.project_status import last_run_annotations

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


_FINISHED_ITEMS = (CampaignItemState.DONE, CampaignItemState.FAILED, CampaignItemState.CANCELLED)


def campaign_list_for(user: User | AnonymousUser, *, status: str = "") -> QuerySet[Campaign]:
    """Campaigns touching at least one project `user` may see, each with its item counts
    (`item_total`, `item_finished`) in the same query."""
    visible = project_list_for_user(user, perm=Perm.VIEW).values("pk")
    ids = CampaignItem.objects.filter(project__in=visible).values("campaign_id")
    found = Campaign.objects.filter(pk__in=ids)
    if status:
        found = found.filter(status=status)
    return found.annotate(
        item_total=Count("items"),
        item_finished=Count("items", filter=Q(items__state__in=_FINISHED_ITEMS)),
    ).order_by("-created")


def campaign_get_for(user: User | AnonymousUser, campaign_id: int) -> Campaign | None:
    return campaign_list_for(user).filter(pk=campaign_id).first()


def campaign_items_for(user: User | AnonymousUser, campaign: Campaign) -> QuerySet[CampaignItem]:
    """The campaign's projects `user` may see, with their latest run."""
    visible = project_list_for_user(user, perm=Perm.VIEW).values("pk")
    return (
        campaign.items.filter(project__in=visible)
        .select_related("project", "run__project")
        .order_by("project__name")
    )


@dataclass(frozen=True)
class Progress:
    total: int
    counts: dict[str, int]

    @property
    def finished(self) -> int:
        return sum(
            self.counts.get(s, 0)
            for s in (CampaignItemState.DONE, CampaignItemState.FAILED, CampaignItemState.CANCELLED)
        )

    @property
    def percent(self) -> int:
        return round(100 * self.finished / self.total) if self.total else 100


def campaign_progress(campaign: Campaign) -> Progress:
    rows = campaign.items.order_by().values_list("state").annotate(n=Count("pk"))
    counts = {state: n for state, n in rows}
    return Progress(sum(counts.values()), counts)


def campaign_running_ids() -> list[int]:
    return list(Campaign.objects.filter(status=CampaignStatus.RUNNING).values_list("pk", flat=True))


# --- The fleet view ----------------------------------------------------------------------

FLEET_LIST_MAX = 200
NO_VERSION = "none"  # the filter value for projects whose report names no BMAD version


@dataclass(frozen=True)
class FleetCounts:
    total: int
    by_status: list[tuple[str, str, int]]  # (status, label, projects), every status
    by_version: list[tuple[str, int]]  # (BMAD version or NO_VERSION, projects), newest first
    by_pull_request: list[tuple[str, str, int]]  # (state, label, projects) of the newest one


def _version_key(version: str) -> tuple[int, ...]:
    parts = [int(p) if p.isdigit() else -1 for p in version.replace("-", ".").split(".")]
    return tuple(parts) if version != NO_VERSION else (-2,)


def fleet_counts(user: User | AnonymousUser) -> FleetCounts:
    """Projects `user` may see, counted by sync status and by BMAD version (the version
    each project's latest report found, stored on the project) and by the state of each
    project's newest pull request: three queries."""
    visible = project_list_for_user(user, perm=Perm.VIEW).order_by()
    statuses = dict(visible.values_list("sync_status").annotate(n=Count("pk")))
    versions = dict(visible.values_list("bmad_version").annotate(n=Count("pk")))
    pulls = dict(
        visible.annotate(pr=last_run_annotations()["last_pr_state"])
        .values_list("pr")
        .annotate(n=Count("pk"))
    )
    by_version = sorted(
        ((v or NO_VERSION, n) for v, n in versions.items()),
        key=lambda row: _version_key(row[0]),
        reverse=True,
    )
    return FleetCounts(
        total=sum(statuses.values()),
        by_status=[(v, label, statuses.get(v, 0)) for v, label in SyncStatus.choices],
        by_version=by_version,
        by_pull_request=[(v, label, pulls.get(v, 0)) for v, label in PullRequestState.choices],
    )


def fleet_projects(
    user: User | AnonymousUser, *, status: str = "", version: str = "", pull_request: str = ""
) -> QuerySet[Project]:
    """The projects behind one count, with their last run and pull request annotated."""
    projects = project_list_for_dashboard(user, status=status)
    if version:
        projects = projects.filter(bmad_version="" if version == NO_VERSION else version)
    if pull_request:
        projects = projects.filter(**{"last_pr_state": pull_request})  # an annotation
    return projects


def runs_awaiting_approval_for(user: User | AnonymousUser) -> QuerySet[Run]:
    """Runs waiting for an approver, on the projects where `user` holds that role."""
    approvable = project_list_for_user(user, perm=Perm.APPROVE).values("pk")
    return (
        Run.objects.filter(status=RunStatus.AWAITING_APPROVAL, project__in=approvable)
        .select_related("project", "campaign")
        .order_by("created", "pk")
    )


def campaigns_running_for(user: User | AnonymousUser) -> QuerySet[Campaign]:
    """Running campaigns touching a project `user` may see, with their progress counted
    in the same query."""
    return campaign_list_for(user, status=CampaignStatus.RUNNING)
