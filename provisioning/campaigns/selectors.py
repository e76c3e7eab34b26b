"""Reads of campaigns: the ones a person may see, their progress and their projects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, QuerySet

from projects.roles import Perm
from projects.selectors import project_list_for_user
from provisioning.models import Campaign, CampaignItem, CampaignItemState, CampaignStatus

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def campaign_list_for(user: User | AnonymousUser, *, status: str = "") -> QuerySet[Campaign]:
    """Campaigns touching at least one project `user` may see."""
    visible = project_list_for_user(user, perm=Perm.VIEW).values("pk")
    found = Campaign.objects.filter(items__project__in=visible).distinct()
    if status:
        found = found.filter(status=status)
    return found.order_by("-created")


def campaign_get_for(user: User | AnonymousUser, campaign_id: int) -> Campaign | None:
    return campaign_list_for(user).filter(pk=campaign_id).first()


def campaign_items_for(user: User | AnonymousUser, campaign: Campaign) -> QuerySet[CampaignItem]:
    """The campaign's projects `user` may see, with their latest run."""
    visible = project_list_for_user(user, perm=Perm.VIEW).values("pk")
    return (
        campaign.items.filter(project__in=visible)
        .select_related("project", "run")
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
