"""Reads of the webhook delivery ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Count, QuerySet

from bmadweb.labels import closed_label
from projects.models import Project
from provisioning.models import (
    WebhookDelivery,
    WebhookOutcome,
    WebhookProvider,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Actor = User | AnonymousUser | None


def delivery_list_for(project: Project) -> QuerySet[WebhookDelivery]:
    """The project's delivery ledger, newest first (bodies left out)."""
    return (
        WebhookDelivery.objects.filter(project=project).defer("body").order_by("-received", "-id")
    )


def delivery_get(*, project: Project, delivery_pk: int) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(project=project, pk=delivery_pk).first()


def delivery_count_by_outcome() -> dict[tuple[str, str], int]:
    """Webhook deliveries by (provider, outcome), every known pair present."""
    counts = {(p.value, o.value): 0 for p in WebhookProvider for o in WebhookOutcome}
    rows = (
        WebhookDelivery.objects.order_by()
        .values_list("provider", "outcome")
        .annotate(n=Count("pk"))
    )
    for provider, outcome, n in rows:
        key = (
            closed_label(provider, WebhookProvider.values),
            closed_label(outcome, WebhookOutcome.values),
        )
        counts[key] = counts.get(key, 0) + n
    return counts
