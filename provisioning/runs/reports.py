"""A run's gap report recorded: the project's status, the report's summary in the run log,
the drift notification (shared by analyses, provisioning and upgrade runs)."""

from __future__ import annotations

from django.utils import timezone

from projects.models import SyncStatus
from provisioning.models import Run, RunLogEntry
from provisioning.notifications.emit import notify_drift_found
from provisioning.runs.runlog import run_log_held, run_log_write


def run_report_record(run: Run, report: dict[str, object], head_sha: str) -> None:
    """`run_report_fields`, stored now: the report on the run and its summary line."""
    stored, summary = run_report_fields(run, report, head_sha)
    Run.objects.filter(pk=run.pk).update(**stored, heartbeat=timezone.now())
    run_log_write([summary])


def run_report_fields(
    run: Run, report: dict[str, object], head_sha: str
) -> tuple[dict[str, object], RunLogEntry]:
    """The project's status from `report` (saved) and the drift notification; returns the
    run's fields and the report's summary line, not yet stored: an analysis writes both
    with its end, in one UPDATE and one INSERT (docs/performance.md#warm-cuts)."""
    bmad = report["bmad"]
    assert isinstance(bmad, dict)
    project = run.project
    if report.get("audit"):
        # An install audit judges no manifest: the project is not "in sync" with anything.
        project.sync_status = SyncStatus.NEVER
    else:
        project.sync_status = str(report["status"]) if report["status"] else SyncStatus.ERROR
    project.bmad_version = bmad.get("version") or ""
    project.bmad_generation = bmad.get("generation") or ""
    project.last_analyzed_at = timezone.now()
    project.save(
        update_fields=[
            "sync_status",
            "bmad_version",
            "bmad_generation",
            "last_analyzed_at",
            "updated_at",
        ]
    )
    stored: dict[str, object] = {
        "report": report,
        "base_sha": head_sha,
        "source_branch": project.default_branch,
    }
    counts = report.get("counts", {})
    assert isinstance(counts, dict)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no items"
    found = len(report["findings"])  # type: ignore[arg-type]
    text = f"Gap report: {summary}; {found} installation finding{'' if found == 1 else 's'}."
    notify_drift_found(run, report)  # only drift the previous analysis did not see
    return stored, run_log_held(run, text)
