"""Replay of a stored delivery from the UI or the admin: judged again as it arrived (the
signature held then), recorded as a new ledger row and settled at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from projects.models import Project
from provisioning.models import (
    WebhookDelivery,
)
from provisioning.webhooks import checks
from provisioning.webhooks.receive import (
    Incoming,
    WebhookResult,
    delivery_row,
    judge,
    ledger_insert,
)
from provisioning.webhooks.settle import webhooks_drain

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Actor = User | AnonymousUser | None


class WebhookReplayError(Exception):
    """A delivery that cannot be replayed; the message is for the person."""


def webhook_replay(*, delivery: WebhookDelivery, actor: Actor) -> WebhookResult:
    """Process a stored delivery again, as it arrived, except for the signature (which
    held when it arrived). A new ledger row marks it as a replay of the original; an
    active run is joined (queued analysis) or reported busy, never doubled. The replay
    is settled at once, so the person sees its result."""
    if not delivery.replayable or delivery.body is None:
        raise WebhookReplayError(
            "Only deliveries whose signature held and whose body was kept can be replayed."
        )
    original = delivery.replay_of or delivery
    event, kind = checks.event_of(delivery.provider, delivery.headers)
    inc = Incoming(
        project=Project.objects.get(pk=delivery.project_id),  # current settings
        provider=delivery.provider,
        headers=delivery.headers,
        body=bytes(delivery.body),
        delivery_id=delivery.delivery_id,
        event=event,
        kind=kind,
        signature_ok=True,
        replay_of=original,
        actor=actor,
    )
    replayed = delivery_row(inc, judge(inc), first=False)
    ledger_insert(replayed)
    webhooks_drain(project_id=inc.project.pk)
    replayed.refresh_from_db()
    return WebhookResult(replayed.status_code, replayed.outcome, replayed.detail, replayed)
