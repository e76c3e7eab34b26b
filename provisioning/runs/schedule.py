"""Scheduled drift checks: analyze runs started by the scheduler (docs/architecture.md#schedules).

Each project checks every `drift_check_hours` hours (empty: the platform default
`DRIFT_CHECK_DEFAULT_HOURS`; 0: off). A fleet must not start at the same second, so each
project has its own place in the interval: a deterministic offset derived from its id
(a hash, so neighbouring ids land far apart). The checks of one project then fall on
`offset + k * interval`, spread evenly over the interval across the fleet.

`drift_checks_start` runs every minute (provisioning.scheduler → jobs.drift_check_job):

* a project without a next check time gets the next slot after now (nothing starts: a
  project never checks at once because its schedule was switched on or changed);
* a due project (next check in the past) gets an analyze run with the `schedule`
  trigger and its next slot after now;
* a busy project (an active run) keeps its due time and is tried again at the next tick;
* at most `DRIFT_CHECK_MAX_PER_TICK` runs start per tick, the most overdue first; the
  rest stay due for the next tick, which spreads a backlog (after an outage) over minutes.

Idempotent: the next check time moves forward by compare-and-set, so an overlapping
second tick never starts a check twice.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from projects.models import Project
from provisioning.models import ACTIVE_STATUSES, RunTrigger
from provisioning.runs.services import analyses_start

logger = logging.getLogger(__name__)

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def interval_hours(project: Project) -> int:
    """The project's effective interval in hours (0: no scheduled checks)."""
    if project.drift_check_hours is None:
        return int(settings.DRIFT_CHECK_DEFAULT_HOURS)
    return int(project.drift_check_hours)


def offset_seconds(project_id: int, period_s: int) -> int:
    """The project's fixed place within its interval, the same on every machine."""
    digest = hashlib.sha256(f"bmadweb-drift-check:{project_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % period_s


def next_slot_after(project_id: int, hours: int, now: datetime) -> datetime:
    """The first of the project's check times strictly after `now`."""
    period_s = hours * 3600
    offset = offset_seconds(project_id, period_s)
    elapsed = int((now - EPOCH).total_seconds()) - offset
    return EPOCH + timedelta(seconds=offset + (elapsed // period_s + 1) * period_s)


def _scheduled() -> QuerySet[Project]:
    on = Q(drift_check_hours__gt=0)
    if settings.DRIFT_CHECK_DEFAULT_HOURS > 0:
        on |= Q(drift_check_hours__isnull=True)
    return Project.objects.filter(on)


def drift_checks_start(*, now: datetime | None = None) -> list[int]:
    """Place new schedules and start the due checks; return the ids of the runs started."""
    now = now or timezone.now()
    unplaced = list(_scheduled().filter(next_drift_check_at__isnull=True))
    for project in unplaced:
        project.next_drift_check_at = next_slot_after(project.pk, interval_hours(project), now)
    # One statement; a project placed meanwhile by another tick gets the same slot anyway.
    Project.objects.bulk_update(unplaced, ["next_drift_check_at"], batch_size=500)
    due = (
        _scheduled()
        .filter(next_drift_check_at__lte=now)
        .exclude(runs__status__in=ACTIVE_STATUSES)  # busy: tried again at the next tick
        .order_by("next_drift_check_at", "pk")
    )
    claimed: list[tuple[Project, datetime | None, datetime]] = []  # project, old slot, new
    with transaction.atomic():  # the claims: one turn at SQLite's single writer
        for project in due[: settings.DRIFT_CHECK_MAX_PER_TICK]:
            slot = next_slot_after(project.pk, interval_hours(project), now)
            if Project.objects.filter(
                pk=project.pk, next_drift_check_at=project.next_drift_check_at
            ).update(next_drift_check_at=slot):
                claimed.append((project, project.next_drift_check_at, slot))
            # else: another tick took it
    # A drift check needs something to drift from: projects without a manifest are
    # skipped until their next slot.
    started = analyses_start(
        [project for project, _, _ in claimed], trigger=RunTrigger.SCHEDULE, require_manifest=True
    )
    busy = set(started.busy)
    for project, old, slot in claimed:
        if project.pk in busy:
            # A run started between the query and now: keep the check due, unless the
            # schedule changed meanwhile (then the scheduler places it anew).
            Project.objects.filter(pk=project.pk, next_drift_check_at=slot).update(
                next_drift_check_at=old
            )
    for project_id in started.without_manifest:
        logger.info("scheduled drift check of project %s skipped: no manifest yet", project_id)
    return [run.pk for run in started.runs]
