"""Read-side queries for runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum

from bmadweb.labels import closed_label
from projects.models import Project
from provisioning.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    Run,
    RunKind,
    RunLogEntry,
    RunStatus,
)


def run_active_for(project: Project) -> Run | None:
    return project.runs.filter(status__in=ACTIVE_STATUSES).first()


def report_run_latest(project: Project) -> Run | None:
    """The newest run that produced a gap report: the one reader of "the latest report"
    for the pages, the API and the CLI (docs/decisions.md#d-latest-report).

    A run has a report once its analysis finished, so a provision run awaiting approval
    counts (its report is the newest view of the repository); a queued run never does.
    """
    return (
        project.runs.exclude(report__isnull=True)
        .exclude(status=RunStatus.QUEUED)
        .order_by("-created", "-pk")
        .first()
    )


def run_latest_for(project: Project) -> Run | None:
    """The project's newest run, whatever its kind and status."""
    return project.runs.order_by("-created", "-pk").first()


def run_fix_pending_for(project: Project, *, report_run: Run | None = None) -> Run | None:
    """The newest provisioning run whose changes are waiting somewhere: a pushed branch or
    pull request, or a plan awaiting approval. None when the newest provisioning run is
    anything else, or is older than `report_run` (a later analysis saw the repository
    since: that fix was made for an older state, merged or not; plan again)."""
    run = (
        project.runs.filter(kind=RunKind.PROVISION)
        .exclude(status=RunStatus.QUEUED)
        .order_by("-created", "-pk")
        .first()
    )
    if run is None:
        return None
    if report_run is not None and (report_run.created, report_run.pk) > (run.created, run.pk):
        return None
    if run.status == RunStatus.AWAITING_APPROVAL:
        return run
    if run.status == RunStatus.PUSHED and run.branch and run.branch != project.default_branch:
        return run
    return None


LOG_ENTRIES_MAX = 2000


def run_list_for(
    project: Project, *, kind: str | None = "", status: str | None = ""
) -> QuerySet[Run]:
    """The project's runs, newest first (stable order for paging)."""
    runs = project.runs.select_related("actor").order_by("-created", "-pk")
    if kind:
        runs = runs.filter(kind=kind)
    if status:
        runs = runs.filter(status=status)
    return runs


def run_log_list(run: Run) -> list[RunLogEntry]:
    """The run's log, oldest first, capped to its last LOG_ENTRIES_MAX lines (the end of a
    long log is where a failure shows)."""
    newest = list(run.log_entries.order_by("-id")[:LOG_ENTRIES_MAX])
    newest.reverse()
    return newest


# Upper bounds (seconds) of the run duration histogram: analyses take seconds,
# provisioning runs with clone, push and pull request up to minutes.
RUN_DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


def run_count_by_kind_status() -> dict[tuple[str, str], int]:
    """Runs by (kind, status), every known pair present (zero when none)."""
    counts = {(k.value, s.value): 0 for k in RunKind for s in RunStatus}
    rows = Run.objects.order_by().values_list("kind", "status").annotate(n=Count("pk"))
    for kind, status, n in rows:
        key = (closed_label(kind, RunKind.values), closed_label(status, RunStatus.values))
        counts[key] = counts.get(key, 0) + n
    return counts


@dataclass(frozen=True)
class DurationHistogram:
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count), +Inf last
    total_seconds: float


def run_duration_histogram() -> DurationHistogram:
    """Durations (started → finished) of every finished run, as cumulative buckets.

    All finished runs, not a recent window: the buckets then only grow, as Prometheus
    expects of a histogram, and rate()/increase() over them give recent quantiles.
    """
    duration = ExpressionWrapper(F("finished") - F("started"), output_field=DurationField())
    finished = (
        Run.objects.order_by()
        .filter(status__in=FINISHED_STATUSES, started__isnull=False, finished__isnull=False)
        .annotate(duration=duration)
    )
    aggregates: dict[str, Any] = {
        f"le{i}": Count("pk", filter=Q(duration__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(RUN_DURATION_BUCKETS)
    }
    row = finished.aggregate(total=Count("pk"), seconds=Sum("duration"), **aggregates)
    buckets = [(bound, row[f"le{i}"]) for i, bound in enumerate(RUN_DURATION_BUCKETS)]
    buckets.append((float("inf"), row["total"]))
    seconds = row["seconds"]
    total = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds or 0)
    return DurationHistogram(buckets=buckets, total_seconds=max(total, 0.0))
