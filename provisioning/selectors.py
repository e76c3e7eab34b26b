"""Read-side queries for runs."""

from __future__ import annotations

from django.db.models import QuerySet

from projects.models import Project
from provisioning.models import ACTIVE_STATUSES, Run, RunStatus


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


def runs_for(project: Project, *, kind: str = "", status: str = "") -> QuerySet[Run]:
    runs = project.runs.select_related("actor").order_by("-created")
    if kind:
        runs = runs.filter(kind=kind)
    if status:
        runs = runs.filter(status=status)
    return runs
