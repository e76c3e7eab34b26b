"""Notification targets and deliveries: the writes (docs/architecture.md#notifications).

Creating, changing, deleting and test-sending a target, and retrying a failed delivery,
are audited ``notification.<action>`` with the target's redacted URL only: the audit log
never holds a URL's secret parts or a webhook's signing secret. The worker side
(`notification_deliver`, `notifications_reconcile`) records each try on its row.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bmadweb.audit import audit_record
from provisioning import queue
from provisioning.notifications.emit import deliveries_queue
from provisioning.notifications.models import (
    SUBSCRIBABLE_EVENTS,
    NotificationDelivery,
    NotificationEvent,
    NotificationKind,
    NotificationStatus,
    NotificationTarget,
)
from provisioning.notifications.send import DeliveryFailed, delivery_send
from provisioning.notifications.urlcheck import (
    CheckedTarget,
    check_apprise_url,
    check_webhook_url,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from projects.models import BaseManifest, Project

    Actor = User | AnonymousUser

# Queued rows whose job never started (queue down at commit, job lost) are enqueued
# again by the reconciler once they are this old.
RECONCILE_AFTER = timedelta(minutes=2)


class NotificationError(Exception):
    """A request that cannot be done, in a plain sentence."""


def target_url_check(*, kind: str, url: str) -> CheckedTarget:
    """The URL policy for a target of `kind` (raises TargetUrlError)."""
    allow = settings.ALLOW_LOCAL_REPOS
    if kind == NotificationKind.WEBHOOK:
        return check_webhook_url(url, allow_loopback=allow)
    if kind == NotificationKind.APPRISE:
        return check_apprise_url(url, allow_loopback=allow)
    raise NotificationError("Choose a signed webhook or an Apprise URL.")


def _audit(action: str, actor: Actor | None, target: NotificationTarget, **extra: Any) -> None:
    audit_record(
        action=f"notification.{action}",
        actor=actor,
        project=target.project,
        payload={
            "target": target.pk,
            "name": target.name,
            "kind": target.kind,
            "url": target.url_redacted,  # the redacted form only
            "base": target.base.name if target.base_id and target.base else "",
            **extra,
        },
    )


def _events(events: Sequence[str]) -> list[str]:
    wanted = [e for e in SUBSCRIBABLE_EVENTS if e.value in set(events)]
    return [e.value for e in wanted]


@transaction.atomic
def notification_target_create(
    *,
    actor: Actor,
    name: str,
    kind: str,
    url: str,
    events: Sequence[str],
    enabled: bool = True,
    project: Project | None = None,
    base: BaseManifest | None = None,
) -> tuple[NotificationTarget, str]:
    """A new target of a project or a base; returns it with the webhook secret it was
    given (shown to the person once, then never again), "" for Apprise targets."""
    if (project is None) == (base is None):
        raise NotificationError("A target belongs to one project or one base manifest.")
    checked = target_url_check(kind=kind, url=url)
    target = NotificationTarget(
        project=project, base=base, name=name.strip()[:100], kind=kind, enabled=enabled
    )
    target.events = _events(events)
    target.set_url(url, checked.redacted)
    secret = ""
    if kind == NotificationKind.WEBHOOK:
        secret = "bmw_" + secrets.token_urlsafe(32)
        target.set_secret(secret)
    if actor is not None and actor.is_authenticated:
        target.created_by = actor
    target.save()
    _audit("create", actor, target, events=target.events, enabled=target.enabled)
    return target, secret


@transaction.atomic
def notification_target_update(
    *, actor: Actor, target: NotificationTarget, name: str, events: Sequence[str], enabled: bool
) -> NotificationTarget:
    target.name = name.strip()[:100]
    target.events = _events(events)
    target.enabled = enabled
    target.save(update_fields=["name", "events", "enabled", "updated"])
    _audit("update", actor, target, events=target.events, enabled=enabled)
    return target


@transaction.atomic
def notification_target_delete(*, actor: Actor, target: NotificationTarget) -> None:
    _audit("delete", actor, target)
    target.delete()


@transaction.atomic
def notification_test_send(*, actor: Actor, target: NotificationTarget) -> NotificationDelivery:
    """Queue a test message to `target` (enabled or not, whatever events it wants)."""
    where = target.project.name if target.project else f"base manifest {target.base}"
    title = "bmadweb test notification"
    payload = {
        "event": NotificationEvent.TEST.value,
        "title": title,
        "text": f"{title} for {where}, sent by {actor.get_username() if actor else 'bmadweb'}.",
    }
    (delivery,) = deliveries_queue(
        [target], NotificationEvent.TEST, payload, project=target.project
    )
    _audit("test", actor, target, delivery=delivery.pk)
    return delivery


@transaction.atomic
def notification_delivery_retry(*, actor: Actor, delivery: NotificationDelivery) -> bool:
    """A failed delivery goes back to the queue for a fresh round of tries."""
    moved = NotificationDelivery.objects.filter(
        pk=delivery.pk, status=NotificationStatus.FAILED
    ).update(status=NotificationStatus.QUEUED, job_id="")
    if moved:
        transaction.on_commit(
            lambda: queue.notification_enqueue(delivery_id=delivery.pk), robust=True
        )
        _audit("retry", actor, delivery.target, delivery=delivery.pk, event=delivery.event)
    return bool(moved)


def notification_deliver(*, delivery_id: int, final: bool) -> bool:
    """Worker side: one try of a queued delivery. True when it is done (sent, or nothing
    left to do); False when it failed and `final` is False (the job is tried again)."""
    delivery = (
        NotificationDelivery.objects.select_related("target", "target__project", "target__base")
        .filter(pk=delivery_id, status=NotificationStatus.QUEUED)
        .first()
    )
    if delivery is None:
        return True  # sent, failed for good, or deleted with its target
    now = timezone.now()
    try:
        delivery_send(delivery)
    except DeliveryFailed as exc:
        status = NotificationStatus.FAILED if final else NotificationStatus.QUEUED
        NotificationDelivery.objects.filter(pk=delivery.pk).update(
            status=status, attempts=delivery.attempts + 1, last_error=str(exc), last_attempt_at=now
        )
        return final
    NotificationDelivery.objects.filter(pk=delivery.pk).update(
        status=NotificationStatus.SENT,
        attempts=delivery.attempts + 1,
        last_attempt_at=now,
        sent_at=now,
    )
    return True


def notifications_reconcile() -> int:
    """Enqueue queued deliveries whose job never started or was lost (reconciler)."""
    stale = timezone.now() - RECONCILE_AFTER
    rows = NotificationDelivery.objects.filter(status=NotificationStatus.QUEUED, created__lt=stale)
    touched = 0
    for delivery_id, job_id in rows.values_list("pk", "job_id")[:200]:
        if job_id and queue.job_is_alive(job_id):
            continue
        NotificationDelivery.objects.filter(
            Q(pk=delivery_id) & Q(job_id=job_id) & Q(status=NotificationStatus.QUEUED)
        ).update(job_id="")
        touched += queue.notification_enqueue(delivery_id=delivery_id)
    return touched
