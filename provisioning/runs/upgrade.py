"""The two phases of an upgrade run (docs/architecture.md#upgrade-flow).

plan_phase: fresh clone → the repository's report as it is → BMAD's official installer
(the installer door) updates the clone to the run's target version, after the hand
edits to installer files were saved → bmadweb's plan on top (migration, manifest, the
saved edits) → approval (by default) or apply. apply_phase: fresh clone → refuse if the
default branch moved → the same upgrade again, refused if it differs from the approved
one → write → one deterministic commit → idempotent push → pull request.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from projects.models import PushMode
from provisioning import git_ops
from provisioning.engine.manifest import Manifest
from provisioning.engine.paths import UnsafePathError
from provisioning.engine.pipeline import analyze_repo, plan_record, report_to_dict
from provisioning.engine.plan import apply_plan
from provisioning.engine.upgrade import (
    InstallRequest,
    Upgrade,
    UpgradeRefused,
    summary_lines,
    upgrade_tree,
)
from provisioning.installer import (
    InstallerError,
    InstallerPolicy,
    InstallerTimeout,
    check_node,
    run_installer,
)
from provisioning.models import Run
from provisioning.runs.execution import (
    _clone,
    _finish_pushed,
    _manifest,
    _push,
    _target_branch,
    refuse_submodule_targets,
)
from provisioning.runs.history import lost_edit_findings_for
from provisioning.runs.lifecycle import (
    RunFailed,
    RunRetry,
    run_start_applying,
    run_wait_for_approval,
)
from provisioning.runs.repo_access import BMADWEB_IDENTITY, credentials_for, git_policy
from provisioning.runs.reports import run_report_record
from provisioning.runs.runlog import checkpoint, run_log

_LOGGED_OUTPUT = 3000


def installer_policy() -> InstallerPolicy:
    """The installer's budgets from settings: the git time limit, the operator's registry."""
    return InstallerPolicy(
        timeout_s=float(settings.GIT_TIMEOUT_S),
        registry=settings.NPM_REGISTRY,
        npx=settings.INSTALLER_NPX,
        node=settings.INSTALLER_NODE,
    )


class _Installer:
    """Runs the installer for the engine, each time in a fresh sandbox under the run's
    work folder, and writes what happened to the run log."""

    def __init__(self, run: Run, work: Path) -> None:
        self.run = run
        self.work = work
        self.count = itertools.count(1)

    def sandbox(self) -> Path:
        folder = self.work / f"installer-{next(self.count)}"
        folder.mkdir(mode=0o700)
        return folder

    def __call__(self, request: InstallRequest) -> str:
        why = "the installed version, for the hand edits" if request.action is None else "upgrade"
        run_log(self.run, f"Running BMAD's installer {request.version} ({why}) in a sandbox.")
        try:
            result = run_installer(request, sandbox=self.sandbox(), policy=installer_policy())
        except InstallerTimeout as exc:
            raise RunRetry(str(exc).capitalize()) from None
        except InstallerError as exc:
            raise RunFailed(str(exc).capitalize()) from None
        Run.objects.filter(pk=self.run.pk).update(heartbeat=timezone.now())
        tail = result.output.strip()[-_LOGGED_OUTPUT:]
        run_log(self.run, f"The installer finished in {result.seconds:.0f} s. Its output:\n{tail}")
        return result.output


def _check_node(run: Run, work: Path) -> None:
    try:
        version = check_node(work / "node-check", installer_policy())
    except InstallerError as exc:
        raise RunFailed(str(exc).capitalize()) from None
    run_log(run, f"Node {version} is available for BMAD's installer.")


def _upgrade(run: Run, root: Path, manifest: Manifest, work: Path) -> Upgrade:
    assert run.manifest_revision is not None
    installer = _Installer(run, work)
    try:
        return upgrade_tree(
            root,
            target=run.target_version,
            install=installer,
            scratch=installer.sandbox(),
            manifest=manifest,
            # the effective manifest's id (bases resolved), as provisioning runs write it
            manifest_revision=run.effective_sha or run.manifest_revision.sha256,
        )
    except UpgradeRefused as exc:
        raise RunFailed(str(exc)) from None
    except UnsafePathError as exc:
        raise RunFailed(f"unsafe path in the repository: {exc}") from None


def _record_before(run: Run, cloned: git_ops.ClonedRepo, manifest: Manifest) -> None:
    """The run's report is the repository as it is (the default branch), not the upgrade."""
    try:
        report = report_to_dict(analyze_repo(cloned.path, manifest).report)
    except UnsafePathError as exc:
        raise RunFailed(f"unsafe path in the repository: {exc}") from None
    report["findings"] += lost_edit_findings_for(run, cloned)
    run_report_record(run, report, cloned.head_sha)


def plan_phase(run: Run) -> None:
    manifest = _manifest(run)
    assert manifest is not None  # only an analysis runs without a manifest
    with git_ops.temp_workdir(git_policy().temp_base) as tmp:
        _check_node(run, tmp)
        cloned = _clone(run, tmp / "repo", depth=settings.HISTORY_DEPTH)
        _record_before(run, cloned, manifest)
        upgrade = _upgrade(run, cloned.path, manifest, tmp)
        if not _store(run, upgrade) or not run_start_applying(run):
            return
        # No approval needed: apply in the clone just upgraded (a retry starts in apply_phase).
        sha = _write_commit_push(run, cloned, upgrade)
    _finish_pushed(run, sha)


def _store(run: Run, upgrade: Upgrade) -> bool:
    """Store the plan; True when it may be applied now (the project skips approval)."""
    project = run.project
    summary = upgrade.summary()
    needs_approval = (
        not project.upgrades_skip_approval
        or project.require_approval
        or project.push_mode == PushMode.DIRECT
    )
    data, patch = plan_record(upgrade.plan)  # every diff computed once, stored once
    Run.objects.filter(pk=run.pk).update(
        plan={**data, "upgrade": summary}, diff=patch, needs_approval=needs_approval
    )
    run_log(run, "\n".join(summary_lines(summary)))
    for note in upgrade.plan.notes:
        run_log(run, note)
    for conflict in upgrade.plan.conflicts:
        run_log(run, f"Conflict left for the team: {conflict.path}: {conflict.reason}", "warning")
    run_log(run, f"Plan: the installer's changes and {len(upgrade.plan.changes)} file operations.")
    run.refresh_from_db()
    if needs_approval and run.approved_at is None:
        run_wait_for_approval(run)
        return False
    return True


def apply_phase(run: Run) -> None:
    """Apply an approved (or interrupted) upgrade in a fresh clone."""
    run.refresh_from_db()
    manifest = _manifest(run)
    assert manifest is not None  # only an analysis runs without a manifest
    if run.commit_sha and _pushed_already(run):
        run_log(run, f"Already pushed by an earlier attempt: {run.commit_sha[:12]}.")
        sha = run.commit_sha
    else:
        with git_ops.temp_workdir(git_policy().temp_base) as tmp:
            _check_node(run, tmp)
            cloned = _clone(run, tmp / "repo")
            if cloned.head_sha != run.base_sha:
                raise RunFailed(
                    f"The default branch moved since the plan (planned on {run.base_sha[:12]}, "
                    f"now {cloned.head_sha[:12]}). Start a new upgrade run to re-plan."
                )
            upgrade = _upgrade(run, cloned.path, manifest, tmp)
            _check_same(run, upgrade)
            sha = _write_commit_push(run, cloned, upgrade)
    _finish_pushed(run, sha)


def _pushed_already(run: Run) -> bool:
    """The commit an earlier attempt recorded is on the remote already (the installer
    writes dates, so a second upgrade would not give the same commit)."""
    project = run.project
    try:
        remote = git_ops.remote_head(
            project.repo_url,
            _target_branch(run),
            policy=git_policy(),
            credentials=credentials_for(project),
        )
    except git_ops.GitOpsError as exc:
        raise RunRetry(f"Could not read the remote: {exc}") from None
    return remote == run.commit_sha


def _check_same(run: Run, upgrade: Upgrade) -> None:
    stored = run.plan or {}
    before = [(op["path"], op["action"]) for op in stored.get("operations", [])]
    now = [(op.path, str(op.kind)) for op in upgrade.plan.operations]  # no diffs needed
    fingerprint = stored.get("upgrade", {}).get("installer", {}).get("fingerprint")
    if before != now or fingerprint != upgrade.installer_changes.fingerprint():
        raise RunFailed(
            "The upgrade gives a different result than the one approved (the installer or "
            "the repository changed). Start a new upgrade run to re-plan."
        )


def _write_commit_push(run: Run, cloned: git_ops.ClonedRepo, upgrade: Upgrade) -> str:
    policy = git_policy()
    refuse_submodule_targets(upgrade.plan, git_ops.tracked_submodules(cloned, policy))
    try:
        result = apply_plan(
            cloned.path, upgrade.plan, tracked_symlinks=git_ops.tracked_symlinks(cloned, policy)
        )
    except UnsafePathError as exc:
        raise RunFailed(str(exc)) from None
    run_log(run, f"Wrote {len(result.written)} files, deleted {len(result.deleted)}.")
    direct = run.project.push_mode == PushMode.DIRECT
    branch = _target_branch(run)
    sha = _commit(run, cloned, upgrade, None if direct else branch)
    Run.objects.filter(pk=run.pk).update(commit_sha=sha, heartbeat=timezone.now())
    checkpoint(run, "after_commit")
    _push(run, cloned, branch, sha, direct=direct)
    return sha


def _commit(run: Run, cloned: git_ops.ClonedRepo, upgrade: Upgrade, branch: str | None) -> str:
    assert run.manifest_revision is not None
    message = (
        f"bmadweb: upgrade BMAD {upgrade.from_version} to {upgrade.to_version} in "
        f"{run.project.name} (manifest r{run.manifest_revision.number})\n\n"
        + "\n".join(summary_lines(upgrade.summary()))
    )
    try:
        sha = git_ops.commit_all(
            cloned,
            branch=branch,
            message=message,
            run_id=str(run.pk),
            author_name=BMADWEB_IDENTITY.name,
            author_email=BMADWEB_IDENTITY.email,
            date=run.created,
            policy=git_policy(),
        )
    except git_ops.NothingToCommit:
        raise RunFailed(f"Upgrading to BMAD {upgrade.to_version} changed nothing.") from None
    run_log(run, f"Committed {sha[:12]}" + (f" on {branch}." if branch else "."))
    return sha
