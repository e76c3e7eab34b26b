"""A run's gap report recorded: the project's status, the report's summary in the run log,
the drift notification (shared by analyses, provisioning and upgrade runs)."""

from __future__ import annotations

from django.utils import timezone

from projects.models import SyncStatus
from provisioning.models import Run, RunLogEntry
from provisioning.notifications.emit import notify_drift_found
from provisioning.runs.runlog import run_log, run_log_held


def run_report_record(
    run: Run,
    report: dict[str, object],
    head_sha: str,
    *,
    lines: list[RunLogEntry] | None = None,
) -> dict[str, object]:
    """The project's status from `report`, the report's summary in the run log and the
    drift notification. With `lines`, the summary is added to them and the run's fields
    are returned for the caller's own UPDATE of the run (its end); without, the report
    is stored here."""
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
    if lines is None:
        Run.objects.filter(pk=run.pk).update(**stored, heartbeat=timezone.now())
    counts = report.get("counts", {})
    assert isinstance(counts, dict)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no items"
    found = len(report["findings"])  # type: ignore[arg-type]
    text = f"Gap report: {summary}; {found} installation finding{'' if found == 1 else 's'}."
    if lines is None:
        run_log(run, text)
    else:
        lines.append(run_log_held(run, text))
    notify_drift_found(run, report)  # only drift the previous analysis did not see
    return stored
