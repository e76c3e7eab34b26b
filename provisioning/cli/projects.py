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
from projects.selectors import base_lookup, manifest_latest
from provisioning import git_ops
from provisioning.cli.common import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    CliError,
    Outcome,
    file_lookup,
    read_manifest_file,
    render_report,
    schema_outcome,
    validate_outcome,
)
from provisioning.cli.paths import engine_outcome, path_dispatch
from provisioning.cli.upgrade import upgrade_outcome
from provisioning.engine.extends import resolve_manifest
from provisioning.engine.manifest import Manifest
from provisioning.engine.pipeline import stored_operations
from provisioning.models import Run, RunKind, RunStatus, RunTrigger
from provisioning.runs import services
from provisioning.runs.repo_access import credentials_for, git_policy


def run_for_project(
    project: Project, kind: RunKind, *, wait: bool, approve: bool, target: str = ""
) -> Outcome:
    try:
        run = services.run_create(
            project=project,
            kind=kind,
            trigger=RunTrigger.CLI,
            enqueue=not wait,
            target_version=target,
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
        "target_version": run.target_version,
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
    base_dir: Path | None = None,
    wait: bool = False,
    approve: bool = False,
    target: str | None = None,
    **_: Any,
) -> Outcome:
    if mode == "schema":
        return schema_outcome()
    if mode == "upgrade":
        return _upgrade(
            path=path,
            project=project,
            manifest=manifest,
            base_dir=base_dir,
            target=target,
            wait=wait,
            approve=approve,
        )
    if mode == "apply" and project:
        raise CliError(
            "apply writes into a local checkout (--path DIR); "
            "use 'provision --project SLUG' for a registered project"
        )
    if project is None and mode != "provision":
        if path is None and mode != "validate":
            raise CliError("give --path DIR (a local checkout) or --project SLUG")
        return path_dispatch(mode=mode, path=path, manifest=manifest, base_dir=base_dir)
    proj = _project(project) if project else None
    text = _manifest_text(manifest, proj)
    lookup = file_lookup(manifest, base_dir) if manifest is not None else base_lookup()
    if mode == "validate":
        return validate_outcome(text, lookup)
    parsed = resolve_manifest(text, lookup)
    if parsed.manifest is None:
        return validate_outcome(text, lookup)
    if mode in ("analyze", "provision") and proj is not None and path is None:
        return run_for_project(proj, RunKind(mode), wait=wait, approve=approve)
    if mode == "provision":
        raise CliError(
            "provision works on a registered project (--project SLUG); "
            "use 'plan --path DIR' to preview the changes for a checkout"
        )
    assert proj is not None
    return _engine(mode, parsed.manifest, parsed.effective_sha, proj)


def _upgrade(
    *,
    path: Path | None,
    project: str | None,
    manifest: Path | None,
    base_dir: Path | None,
    target: str | None,
    wait: bool,
    approve: bool,
) -> Outcome:
    """On a project: an upgrade run (its latest manifest); on a checkout: the working tree."""
    if project is None:
        return upgrade_outcome(path=path, target=target, manifest=manifest, base_dir=base_dir)
    if manifest is not None:
        raise CliError("an upgrade run uses the project's latest manifest; drop --manifest")
    if not target:
        raise CliError("upgrade needs --to VERSION, the exact BMAD version (e.g. 6.12.0)")
    proj = _project(project)
    return run_for_project(proj, RunKind.UPGRADE, wait=wait, approve=approve, target=target)


def _project(slug: str) -> Project:
    found = Project.objects.filter(slug=slug).first()
    if found is None:
        raise CliError(f"no project with slug {slug!r}")
    return found


def _engine(mode: str, manifest: Manifest, revision: str, project: Project) -> Outcome:
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
        return engine_outcome(mode, cloned.path, manifest, revision)


def _manifest_text(manifest: Path | None, project: Project | None) -> str:
    if manifest is not None:
        return read_manifest_file(manifest)
    if project is not None:
        revision = manifest_latest(project)
        if revision is None:
            raise CliError(f"project {project.slug!r} has no manifest yet")
        return revision.yaml_text
    raise CliError("give --manifest FILE, or --project SLUG to use the project's manifest")
