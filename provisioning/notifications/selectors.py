"""Notification targets and deliveries: the reads (docs/architecture.md#notifications)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from provisioning.notifications.models import NotificationDelivery, NotificationTarget

if TYPE_CHECKING:
    from projects.models import BaseManifest, Project

RECENT_DELIVERIES = 50


def _owned(project: Project | None, base: BaseManifest | None) -> QuerySet[NotificationTarget]:
    if project is not None:
        return NotificationTarget.objects.filter(project=project)
    return NotificationTarget.objects.filter(base=base)


def notification_target_list_for(
    *, project: Project | None = None, base: BaseManifest | None = None
) -> list[NotificationTarget]:
    return list(_owned(project, base).order_by("name", "pk"))


def notification_target_get(
    *, target_id: int, project: Project | None = None, base: BaseManifest | None = None
) -> NotificationTarget | None:
    """A target of this project (or base); None for any other id."""
    return _owned(project, base).filter(pk=target_id).first()


def notification_delivery_list_for(
    *, project: Project | None = None, base: BaseManifest | None = None
) -> list[NotificationDelivery]:
    """The latest deliveries to the targets of this project (or base)."""
    owned = {"target__project": project} if project is not None else {"target__base": base}
    rows = (
        NotificationDelivery.objects.filter(**owned)
        .select_related("target", "project")
        .defer("payload")
        .order_by("-created", "-pk")
    )
    return list(rows[:RECENT_DELIVERIES])


def notification_delivery_get(
    *, delivery_id: int, project: Project | None = None, base: BaseManifest | None = None
) -> NotificationDelivery | None:
    owned = {"target__project": project} if project is not None else {"target__base": base}
    return (
        NotificationDelivery.objects.filter(pk=delivery_id, **owned)
        .select_related("target", "target__project", "target__base")
        .first()
    )
