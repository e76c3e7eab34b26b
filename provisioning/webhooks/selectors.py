"""Reads of the webhook delivery ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Max, QuerySet, Sum
from django.utils import timezone

from bmadweb.labels import closed_label
from projects.models import Project
from provisioning.models import (
    WebhookDelivery,
    WebhookOutcome,
    WebhookProvider,
    WebhookRefusal,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Actor = User | AnonymousUser | None


def delivery_list_for(project: Project) -> QuerySet[WebhookDelivery]:
    """The project's delivery ledger, newest first (bodies left out)."""
    return (
        WebhookDelivery.objects.filter(project=project).defer("body").order_by("-received", "-id")
    )


def delivery_list_signed_for(project: Project) -> QuerySet[WebhookDelivery]:
    """The deliveries whose signature held, newest first: what the webhook page lists, so
    forged requests can never push genuine ones out of it (refusal_summary_for counts
    those)."""
    return delivery_list_for(project).filter(signature_ok=True)


def refusal_summary_for(project: Project, *, hours: int = 24) -> list[dict[str, Any]]:
    """Refused requests (bad signature, too large) of the last `hours`, per provider and
    source address: how many, how many were only counted (over the limit), and when."""
    since = timezone.now() - timedelta(hours=hours)
    rows = (
        WebhookRefusal.objects.filter(project=project, last_at__gte=since)
        .order_by()
        .values("provider", "source")
        .annotate(refused=Sum("refused"), dropped=Sum("dropped"), last_at=Max("last_at"))
        .order_by("-last_at")[:20]
    )
    return [dict(row) for row in rows]


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
