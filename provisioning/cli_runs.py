"""`bmad analyze|provision --project SLUG`: create the same runs the web app creates,
enqueued, or executed in this process with --wait."""

from __future__ import annotations

from projects.models import Project
from provisioning import services
from provisioning.cli import EXIT_DRIFT, EXIT_ERROR, EXIT_OK, CliError, Outcome, render_report
from provisioning.models import Run, RunKind, RunStatus, RunTrigger


def run_for_project(project: Project, kind: RunKind, *, wait: bool, approve: bool) -> Outcome:
    try:
        run = services.run_create(
            project=project, kind=kind, trigger=RunTrigger.CLI, enqueue=not wait
        )
    except services.RunError as exc:
        raise CliError(str(exc)) from None
    if not wait:
        run.refresh_from_db()
        if not run.job_id:
            # Accepted and recorded: the reconciler enqueues it once the queue is back.
            return Outcome(
                EXIT_OK,
                {"run": _summary(run), "queue": "unavailable"},
                f"Run #{run.pk} ({kind}) is recorded, but the job queue is unavailable "
                "right now: it stays queued and starts as soon as the queue is back.",
            )
        return Outcome(
            EXIT_OK,
            {"run": _summary(run), "queue": "ok"},
            f"Run #{run.pk} ({kind}) queued; a worker will pick it up.",
        )
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    if run.status == RunStatus.AWAITING_APPROVAL and approve:
        services.run_approve(run=run, actor=None, enqueue=False)
        services.run_execute(run_id=run.pk)
        run.refresh_from_db()
    return _outcome(run)


def _summary(run: Run) -> dict[str, object]:
    return {
        "id": run.pk,
        "kind": run.kind,
        "status": run.status,
        "branch": run.branch,
        "commit": run.commit_sha,
        "pr_url": run.pr_url,
        "failure_reason": run.failure_reason,
    }


def _outcome(run: Run) -> Outcome:
    data: dict[str, object] = {"run": _summary(run), **(run.report or {})}
    data["operations"] = (run.plan or {}).get("operations", [])
    lines = [f"Run #{run.pk} ({run.kind}): {run.get_status_display()}"]
    if run.report:
        lines += ["", render_report(run.report)]
    if run.branch:
        lines.append(f"Branch: {run.branch}  commit: {run.commit_sha[:12]}")
    if run.pr_url:
        lines.append(f"Pull request: {run.pr_url}")
    if run.failure_reason:
        lines.append(f"Reason: {run.failure_reason}")
    if run.status == RunStatus.AWAITING_APPROVAL:
        lines.append("The plan needs approval: rerun with --approve or approve it in the UI.")
    return Outcome(_code(run), data, "\n".join(lines))


def _code(run: Run) -> int:
    if run.status in (RunStatus.FAILED, RunStatus.ERRORED, RunStatus.CANCELLED):
        return EXIT_ERROR
    if run.status == RunStatus.SUCCEEDED:
        return EXIT_OK if (run.report or {}).get("status") == "in_sync" else EXIT_DRIFT
    if run.status in (RunStatus.PUSHED, RunStatus.NO_CHANGES):
        return EXIT_OK
    return EXIT_DRIFT
