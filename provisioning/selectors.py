"""Read-side queries for runs."""

from __future__ import annotations

from django.db.models import QuerySet

from projects.models import Project
from provisioning.models import ACTIVE_STATUSES, Run, RunLogEntry, RunStatus


def active_run(project: Project) -> Run | None:
    return project.runs.filter(status__in=ACTIVE_STATUSES).first()


def latest_report_run(project: Project) -> Run | None:
    """The newest run that produced a gap report."""
    return (
        project.runs.exclude(report__isnull=True)
        .exclude(status__in=(RunStatus.QUEUED,))
        .order_by("-created")
        .first()
    )


LOG_ENTRIES_MAX = 2000


def runs_for(project: Project, *, kind: str | None = "", status: str | None = "") -> QuerySet[Run]:
    """The project's runs, newest first (stable order for paging)."""
    runs = project.runs.select_related("actor").order_by("-created", "-pk")
    if kind:
        runs = runs.filter(kind=kind)
    if status:
        runs = runs.filter(status=status)
    return runs


def run_log_entries(run: Run) -> list[RunLogEntry]:
    """The run's log, oldest first, capped to its last LOG_ENTRIES_MAX lines (the end of a
    long log is where a failure shows)."""
    newest = list(run.log_entries.order_by("-id")[:LOG_ENTRIES_MAX])
    newest.reverse()
    return newest
