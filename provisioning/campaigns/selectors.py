"""Reads of campaigns (the ones a person may see, their progress and their projects) and
of the fleet view (counts by status and BMAD version, approvals waiting, campaigns)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from projects.models import Project, SyncStatus
from projects.roles import Perm
from projects.selectors import (
    project_filter_for,
    project_list_for_dashboard,
)
from provisioning.models import (
    Campaign,
    CampaignItem,
    CampaignItemState,
    CampaignStatus,
    PullRequestState,
    Run,
    RunStatus,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


_FINISHED_ITEMS = (CampaignItemState.DONE, CampaignItemState.FAILED, CampaignItemState.CANCELLED)


def campaign_list_for(user: User | AnonymousUser, *, status: str = "") -> QuerySet[Campaign]:
    """Campaigns touching at least one project `user` may see, each with its item counts
    (`item_total`, `item_finished`) in the same query."""
    # Probed campaign by campaign (docs/performance.md#pages): a few campaigns, many projects.
    seen = CampaignItem.objects.filter(campaign=OuterRef("pk")).filter(
        project_filter_for(user, Perm.VIEW, field="project_id", per_row=True)
    )
    found = Campaign.objects.filter(Exists(seen))
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
    return (
        campaign.items.filter(project_filter_for(user, Perm.VIEW, field="project_id"))
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


def campaign_runs_among(run_ids: Sequence[int]) -> set[int]:
    """Which of `run_ids` belong to a campaign (one query for a batch of runs)."""
    return set(
        Run.objects.filter(pk__in=list(run_ids), campaign__isnull=False).values_list(
            "pk", flat=True
        )
    )


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
    """Projects `user` may see, counted by sync status, by BMAD version (the version each
    project's latest report found) and by the state of each project's newest pull
    request, all three stored on the project: one query, whose cost is one index entry
    and a probe of the user's grants per project (docs/performance.md#pages)."""
    visible = project_filter_for(user, Perm.VIEW)
    # One pass of the (sync_status, bmad_version, pr_state) index: no table row is read.
    rows = (
        Project.objects.filter(visible)
        .order_by()
        .values_list("sync_status", "bmad_version", "pr_state")
        .annotate(n=Count("pk"))
    )
    statuses: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    pulls: Counter[str] = Counter()
    for status, version, pull, n in rows:
        statuses[status] += n
        versions[version or NO_VERSION] += n
        pulls[pull] += n
    by_version = sorted(versions.items(), key=lambda row: _version_key(row[0]), reverse=True)
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
        projects = projects.filter(pr_state=pull_request)  # as the count read it
    return projects


def runs_awaiting_approval_for(user: User | AnonymousUser) -> QuerySet[Run]:
    """Runs waiting for an approver, on the projects where `user` holds that role."""
    return (
        Run.objects.filter(status=RunStatus.AWAITING_APPROVAL)
        .filter(project_filter_for(user, Perm.APPROVE, field="project_id", per_row=True))
        .select_related("project", "campaign")
        # What the fleet view shows of each: not the report, plan and patch of the run.
        .only("kind", "created", "project__slug", "project__name", "campaign__name")
        .order_by("created", "pk")
    )


def campaigns_running_for(user: User | AnonymousUser) -> QuerySet[Campaign]:
    """Running campaigns touching a project `user` may see, with their progress counted
    in the same query."""
    return campaign_list_for(user, status=CampaignStatus.RUNNING)
