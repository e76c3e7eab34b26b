"""What `manage.py bmad` does, separate from argument parsing so it stays testable.

Without `--project` it is the database-free engine of :mod:`provisioning.cli.paths`, the
same code as the `bmadweb` command; on a registered project (`--project`) it reads the
project's manifest and either clones the repository (validate, plan, diff) or creates the
same runs the web app creates (analyze, provision), enqueued, or executed in this process
with `--wait`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from projects.models import Project
from projects.selectors import manifest_latest
from provisioning import git_ops
from provisioning.cli.common import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    CliError,
    Outcome,
    read_manifest_file,
    render_report,
    schema_outcome,
    validate_outcome,
)
from provisioning.cli.paths import engine_outcome, path_dispatch
from provisioning.engine.manifest import Manifest, load_manifest, sha256
from provisioning.engine.pipeline import stored_operations
from provisioning.models import Run, RunKind, RunStatus, RunTrigger
from provisioning.runs import services
from provisioning.runs.repo_access import credentials_for, git_policy


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
    data["operations"] = stored_operations(run.plan, run.diff)
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
    for conflict in (run.plan or {}).get("conflicts", []):
        keys = f" (keys: {', '.join(conflict.get('keys', []))})" if conflict.get("keys") else ""
        lines.append(f"Conflict left for the team: {conflict['path']}{keys}")
    return Outcome(_code(run), data, "\n".join(lines))


def _code(run: Run) -> int:
    if run.status in (RunStatus.FAILED, RunStatus.ERRORED, RunStatus.CANCELLED):
        return EXIT_ERROR
    if run.status == RunStatus.SUCCEEDED:
        return EXIT_OK if (run.report or {}).get("status") == "in_sync" else EXIT_DRIFT
    if run.status in (RunStatus.PUSHED, RunStatus.NO_CHANGES):
        return EXIT_OK
    return EXIT_DRIFT  # awaiting approval, or needs attention: unresolved conflicts


def dispatch(
    *,
    mode: str,
    path: Path | None = None,
    project: str | None = None,
    manifest: Path | None = None,
    wait: bool = False,
    approve: bool = False,
    **_: Any,
) -> Outcome:
    if mode == "schema":
        return schema_outcome()
    if mode == "apply" and project:
        raise CliError(
            "apply writes into a local checkout (--path DIR); "
            "use 'provision --project SLUG' for a registered project"
        )
    if project is None and mode != "provision":
        if path is None and mode != "validate":
            raise CliError("give --path DIR (a local checkout) or --project SLUG")
        return path_dispatch(mode=mode, path=path, manifest=manifest)
    proj = _project(project) if project else None
    text = _manifest_text(manifest, proj)
    if mode == "validate":
        return validate_outcome(text)
    parsed = load_manifest(text)
    if parsed.manifest is None:
        return validate_outcome(text)
    if mode in ("analyze", "provision") and proj is not None and path is None:
        return run_for_project(proj, RunKind(mode), wait=wait, approve=approve)
    if mode == "provision":
        raise CliError(
            "provision works on a registered project (--project SLUG); "
            "use 'plan --path DIR' to preview the changes for a checkout"
        )
    assert proj is not None
    return _engine(mode, parsed.manifest, text, proj)


def _project(slug: str) -> Project:
    found = Project.objects.filter(slug=slug).first()
    if found is None:
        raise CliError(f"no project with slug {slug!r}")
    return found


def _engine(mode: str, manifest: Manifest, text: str, project: Project) -> Outcome:
    """`analyze`, `plan` or `diff` on a fresh clone of the project's default branch."""
    policy = git_policy()
    with git_ops.temp_workdir(policy.temp_base) as tmp:
        try:
            cloned = git_ops.clone(
                project.repo_url,
                tmp / "repo",
                branch=project.default_branch,
                policy=policy,
                credentials=credentials_for(project),
            )
        except git_ops.GitOpsError as exc:
            raise CliError(f"cloning {project.slug} failed: {exc}") from None
        return engine_outcome(mode, cloned.path, manifest, sha256(text))


def _manifest_text(manifest: Path | None, project: Project | None) -> str:
    if manifest is not None:
        return read_manifest_file(manifest)
    if project is not None:
        revision = manifest_latest(project)
        if revision is None:
            raise CliError(f"project {project.slug!r} has no manifest yet")
        return revision.yaml_text
    raise CliError("give --manifest FILE, or --project SLUG to use the project's manifest")
