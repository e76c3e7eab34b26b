"""Deliveries that proved nothing, counted and rate-limited per project and source
(docs/security.md#s11).

A request whose signature does not verify (or whose body is too large to check) is
counted in a `WebhookRefusal` row per project, provider, source address and ten-minute
window. The first BMADWEB_WEBHOOK_REFUSED_LIMIT of a window also get a ledger row, as
before; the rest are answered 429 and only counted, so a flood of forgeries neither fills
the ledger nor pushes genuine deliveries off the webhook page. Their audit is aggregated:
the drain writes one `webhook.rejected` record per counter row that grew, all under one
lock of the audit chain's head, instead of one record per request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from bmadweb.audit import AuditEntry, audit_record_many
from projects.models import Project
from provisioning.models import WebhookRefusal
from provisioning.webhooks.write_gate import write_gate

WINDOW = timedelta(minutes=10)


def _window_start(now: datetime) -> datetime:
    seconds = int(WINDOW.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)


def refusal_note(*, project: Project, provider: str, source: str, reason: str) -> int:
    """Count one refused delivery; returns how many seconds the source must wait before
    its refusals are recorded again (0 while it is under the limit)."""
    now = timezone.now()
    start = _window_start(now)
    key = {"project": project, "provider": provider, "source": source[:64], "window_start": start}
    with write_gate(), transaction.atomic():
        rows = WebhookRefusal.objects.filter(**key)
        if not rows.update(refused=F("refused") + 1, last_at=now, last_reason=reason[:200]):
            try:
                with transaction.atomic():
                    WebhookRefusal.objects.create(
                        **key, refused=1, last_at=now, last_reason=reason[:200]
                    )
            except IntegrityError:  # created by a concurrent request since
                rows.update(refused=F("refused") + 1, last_at=now, last_reason=reason[:200])
        refused = rows.values_list("refused", flat=True).get()
        if refused <= settings.WEBHOOK_REFUSED_LIMIT:
            return 0
        rows.update(dropped=F("dropped") + 1)
    return max(1, int((start + WINDOW - now).total_seconds()))


def refusals_audit(*, project_id: int) -> int:
    """One audit record per counter row that grew since its last one, in one batch (one
    lock of the audit head). Returns how many records were written."""
    with write_gate(), transaction.atomic():
        rows = list(
            WebhookRefusal.objects.select_for_update()
            .filter(project_id=project_id, refused__gt=F("audited"))
            .order_by("id")
        )
        if not rows:
            return 0
        project = Project.objects.get(pk=project_id)
        entries = [
            AuditEntry(
                action="webhook.rejected",
                project=project,
                payload={
                    "provider": row.provider,
                    "source": row.source,
                    "window_start": row.window_start.isoformat(),
                    "refused": row.refused - row.audited,
                    "refused_in_window": row.refused,
                    "dropped_in_window": row.dropped,
                    "last_reason": row.last_reason,
                },
            )
            for row in rows
        ]
        audit_record_many(entries)
        for row in rows:
            row.audited = row.refused
        WebhookRefusal.objects.bulk_update(rows, ["audited"])  # one statement, rows locked
    return len(entries)
