"""The two phases of a run, executed inside an RQ job.

plan_phase: fresh shallow clone (an analysis: the project's mirror, brought to the
default branch's tip, docs/git-door.md#mirrors) → gap report → (provision) plan with
diff → approval or apply. apply_phase: fresh clone → refuse if the default branch moved
→ re-plan and check it matches → check the targets → deterministic commit of the plan's
texts → idempotent push → pull request.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from projects.models import PushMode
from projects.selectors import manifest_resolve
from provisioning import git_ops
from provisioning.engine.manifest import Manifest
from provisioning.engine.paths import UnsafePathError
from provisioning.engine.pipeline import analyze_repo, plan_record, plan_repo, report_to_dict
from provisioning.engine.plan import OpKind, Plan, check_plan
from provisioning.engine.readset import recording
from provisioning.git_ops.urlpolicy import UrlPolicyError
from provisioning.models import Run, RunKind, RunLogEntry, RunStatus
from provisioning.runs import pull_requests, reuse
from provisioning.runs.history import lost_edit_findings_for
from provisioning.runs.lifecycle import (
    RunFailed,
    RunRetry,
    run_finish,
    run_start_applying,
    run_wait_for_approval,
)
from provisioning.runs.mirrors import mirror_for, mirrors_evict_after_run, mirrors_on
from provisioning.runs.repo_access import BMADWEB_IDENTITY, credentials_for, git_policy
from provisioning.runs.reports import run_report_fields, run_report_record
from provisioning.runs.runlog import checkpoint, run_log, run_log_held, run_log_write

logger = logging.getLogger(__name__)


def _manifest(run: Run) -> Manifest | None:
    """The run's manifest; None for an analysis started before any manifest existed
    (an install audit)."""
    revision = run.manifest_revision
    if revision is None:
        if run.kind == RunKind.ANALYZE:
            return None
        raise RunFailed("The manifest revision of this run was deleted.")
    result = manifest_resolve(revision.yaml_text, pinned=run.base_revisions or None)
    if result.manifest is None:
        first = "; ".join(f"line {e.line}: {e.message}" for e in result.errors[:3])
        raise RunFailed(f"Manifest revision r{revision.number} is invalid: {first}")
    run.effective_sha = result.effective_sha
    return result.manifest


@contextlib.contextmanager
def _git_errors(what: str) -> Iterator[None]:
    """A clone's (or a mirror's update's) failures as the run's: a time-out is retried."""
    try:
        yield
    except git_ops.GitTimeout as exc:
        raise RunRetry(f"{what} timed out: {exc}") from None
    except UrlPolicyError as exc:
        raise RunFailed(f"The repository URL is not allowed: {exc.message}") from None
    except git_ops.GitOpsError as exc:
        raise RunFailed(f"{what} failed: {exc}") from None


def _clone(run: Run, dest: Path, *, depth: int = 1) -> git_ops.ClonedRepo:
    """A shallow clone; plan phases take `depth` commits, to read the recent history."""
    project = run.project
    run_log(run, f"Cloning {project.repo_url} ({project.default_branch}), shallow.")
    with _git_errors("Cloning"):
        cloned = git_ops.clone(
            project.repo_url,
            dest,
            branch=project.default_branch,
            policy=git_policy(),
            credentials=credentials_for(project),
            depth=depth,
        )
    run_log(run, f"Cloned {project.default_branch} at {cloned.head_sha[:12]}.")
    checkpoint(run, "after_clone")
    return cloned


def _analyze_on_mirror(run: Run, manifest: Manifest | None) -> None:
    """An analysis on the project's mirror (docs/git-door.md#mirrors): the delta fetched,
    the tip checked as a clone's, the work tree exact; then the least recently used
    mirrors evicted down to the budget. When the tip shows the engine nothing new, the
    last report is reused without touching the work tree (docs/decisions.md#d50)."""
    project = run.project
    revision = run.manifest_revision
    what = reuse.judged(
        (run.effective_sha or revision.sha256) if manifest is not None and revision else None
    )
    reused: reuse.Reusable | None = None

    def need_tree(tip: git_ops.ClonedRepo, folder: Path) -> bool:
        nonlocal reused
        reused = reuse.reusable_report(folder, run, tip, what)
        return reused is None

    with contextlib.ExitStack() as stack:
        with _git_errors("Updating the mirror"):
            mirrored = stack.enter_context(
                mirror_for(run, depth=settings.HISTORY_DEPTH, need_tree=need_tree)
            )
        cloned, folder = mirrored.repo, mirrored.folder
        assert folder is not None
        if not mirrored.reused:
            how = "cloned afresh"
        elif mirrored.previous_head == cloned.head_sha:
            how = "no new commits since its last use"
        else:
            how = "fetched the changes"
        mirror_line = run_log_held(
            run,
            f"Mirror of {project.repo_url} at {project.default_branch} "
            f"{cloned.head_sha[:12]} ({how}).",
        )
        held = [mirror_line]
        if not mirrored.tree_exact and reused is not None:
            # A reuse takes milliseconds: its lines are written with its end, in the same
            # transaction (docs/performance.md#warm-cuts).
            checkpoint(run, "after_clone")
            report = reused.report
            text = "Nothing the analysis reads changed: the last report is reused."
            held.append(run_log_held(run, text))
            try:
                _add_lost_edits(run, report, cloned, reuse.blob_reader(cloned))
                reuse.remember_reuse(folder, reused.memo, run)
            except BaseException:
                run_log_write(held)  # the run's failure follows them in the log
                raise
        else:
            run_log_write(held)
            held = []
            checkpoint(run, "after_clone")
            with recording() as reads:
                report = _analyze(cloned.path, manifest)
            _add_lost_edits(run, report, cloned)
            reuse.remember(folder, run, cloned, what, reads)
    _finish_analysis(run, report, cloned.head_sha, held=held)
    if mirrored.grew:
        # Otherwise the total is what the last scan left (docs/git-door.md#mirrors): a
        # reuse does not read the record of every mirror the fleet has.
        _evict()


def _finish_analysis(
    run: Run, report: dict[str, object], head_sha: str, *, held: Sequence[RunLogEntry] = ()
) -> None:
    """The report, the project's status and the run's end in one transaction: one turn
    at SQLite's single writer instead of four (docs/performance.md#fleet); with the run
    log's `held` lines first."""
    with transaction.atomic():
        stored, summary = run_report_fields(run, report, head_sha)
        run_log_write([*held, summary])
        run_finish(run, RunStatus.SUCCEEDED, reason="", **stored)  # the report, with the end


def _evict() -> None:
    """Eviction is housekeeping: its failure never changes the run's result."""
    try:
        mirrors_evict_after_run()
    except OSError:
        logger.exception("mirror eviction failed")


def _plan(run: Run, root: Path, manifest: Manifest) -> tuple[dict[str, object], Plan]:
    assert run.manifest_revision is not None
    try:
        revision = run.effective_sha or run.manifest_revision.sha256
        analysis, plan = plan_repo(root, manifest, manifest_revision=revision)
    except UnsafePathError as exc:
        raise RunFailed(f"unsafe path in the repository: {exc}") from None
    return report_to_dict(analysis.report), plan


def _analyze(root: Path, manifest: Manifest | None) -> dict[str, object]:
    """The gap report alone (an analysis makes no plan); without a manifest, an audit."""
    try:
        analysis = analyze_repo(root, manifest)
    except UnsafePathError as exc:
        raise RunFailed(f"unsafe path in the repository: {exc}") from None
    report = report_to_dict(analysis.report)
    report["audit"] = manifest is None
    return report


def _add_lost_edits(
    run: Run,
    report: dict[str, object],
    cloned: git_ops.ClonedRepo,
    read: Callable[[str], str | None] | None = None,
) -> None:
    """Add the hand edits an earlier BMAD update removed (read from the clone's history)."""
    findings = report["findings"]
    assert isinstance(findings, list)
    findings += lost_edit_findings_for(run, cloned, read)


def plan_phase(run: Run) -> None:
    manifest = _manifest(run)
    if run.kind == RunKind.ANALYZE and mirrors_on():
        _analyze_on_mirror(run, manifest)
        return
    with git_ops.temp_workdir(git_policy().temp_base) as tmp:
        cloned = _clone(run, tmp / "repo", depth=settings.HISTORY_DEPTH)
        if run.kind == RunKind.ANALYZE:
            report = _analyze(cloned.path, manifest)
            _add_lost_edits(run, report, cloned)
            _finish_analysis(run, report, cloned.head_sha)
            _evict()  # mirrors off: none is kept (docs/git-door.md#mirrors)
            return
        assert manifest is not None  # _manifest fails a provision run without one
        report, plan = _plan(run, cloned.path, manifest)
        _add_lost_edits(run, report, cloned)
        run_report_record(run, report, cloned.head_sha)
        if not _store_plan(run, plan):
            return
        # Applying right away: this clone is the one just planned on, so neither a
        # second clone nor a second plan is needed (a retry starts in apply_phase).
        sha = _write_commit_push(run, cloned, plan)
    _finish_pushed(run, sha, plan)


def _store_plan(run: Run, plan: Plan) -> bool:
    """Store the plan with the run's next status, in one update; True when the run moved
    to applying (changes, no approval needed).

    One update rather than two: on SQLite, changing any column rewrites the whole row,
    and the row now holds the plan's diffs."""
    project = run.project
    needs_approval = (
        plan.requires_approval or project.require_approval or project.push_mode == PushMode.DIRECT
    )
    data, patch = plan_record(plan)  # every diff computed here, once, and stored once
    stored = {"plan": data, "diff": patch, "needs_approval": needs_approval}
    for conflict in plan.conflicts:
        run_log(run, f"Conflict left for the team: {conflict.path}: {conflict.reason}", "warning")
    plan_conflicts = [conflict.path for conflict in plan.conflicts]
    if not plan.changes and plan_conflicts:
        reason = _conflicts_reason(plan_conflicts, nothing=True)
        run_finish(run, RunStatus.NEEDS_ATTENTION, reason=reason, **stored)
        return False
    if not plan.changes:
        run_finish(
            run, RunStatus.NO_CHANGES, reason="Nothing to change: already in sync.", **stored
        )
        return False
    run_log(run, f"Plan: {len(plan.changes)} file operations.")
    run.refresh_from_db()
    if needs_approval and run.approved_at is None:
        run_wait_for_approval(run, **stored)
        return False
    return run_start_applying(run, **stored)


def _target_branch(run: Run) -> str:
    project = run.project
    if project.push_mode == PushMode.DIRECT:
        return project.default_branch
    return f"bmadweb/{project.slug}/{run.pk}"


def apply_phase(run: Run) -> None:
    """Apply an approved (or interrupted) run in a fresh clone."""
    run.refresh_from_db()
    manifest = _manifest(run)
    assert manifest is not None  # only provision runs apply
    branch = _target_branch(run)
    with git_ops.temp_workdir(git_policy().temp_base) as tmp:
        cloned = _clone(run, tmp / "repo")
        if run.project.push_mode == PushMode.DIRECT and run.commit_sha == cloned.head_sha:
            # An earlier attempt pushed, then its worker died before recording it.
            run_log(
                run, f"Already pushed by an earlier attempt: {branch} at {cloned.head_sha[:12]}."
            )
            sha = run.commit_sha
        else:
            sha = _write_commit_push(run, cloned, _replan(run, cloned, manifest))
    _finish_pushed(run, sha)


def _replan(run: Run, cloned: git_ops.ClonedRepo, manifest: Manifest) -> Plan:
    """The plan again, refusing if the repository changed since it was approved."""
    if cloned.head_sha != run.base_sha:
        raise RunFailed(
            f"The default branch moved since the plan (planned on {run.base_sha[:12]}, "
            f"now {cloned.head_sha[:12]}). Start a new provisioning run to re-plan."
        )
    _, plan = _plan(run, cloned.path, manifest)
    _check_same_plan(run, plan)
    return plan


def refuse_submodule_targets(plan: Plan, submodules: frozenset[str]) -> None:
    """Fail before the first write when the plan writes into a submodule: git would
    commit the rest and silently leave those files out (docs/security.md#s6)."""
    if not submodules:
        return
    for op in plan.changes:
        parts = op.path.split("/")
        inside = next(
            ("/".join(parts[:end]) for end in range(1, len(parts) + 1)
             if "/".join(parts[:end]) in submodules),
            None,
        )  # fmt: skip
        if inside is not None:
            raise RunFailed(
                f"unsafe path: the plan writes {op.path}, inside the submodule {inside}; "
                "bmadweb does not write into submodules. Move the BMAD files out of it, "
                "or turn the submodule into a plain folder."
            )


def _write_commit_push(run: Run, cloned: git_ops.ClonedRepo, plan: Plan) -> str:
    """Check every target as the link-safe writer would, commit the plan's texts, push;
    the commit id is recorded before the push so a retry can recognise its own commit.

    The texts go straight into git objects (git_ops.commit_files): the commit is the one
    writing them into the clone and committing the work tree would make, without the
    writes, the walk over the whole tree and its re-hashing. The clone's listing tells
    the submodules and symlinks (the index is read only for a clone without one)."""
    policy = git_policy()
    listed = bool(cloned.tree)
    submodules = cloned.tracked_submodules if listed else git_ops.tracked_submodules(cloned, policy)
    links = cloned.tracked_symlinks if listed else git_ops.tracked_symlinks(cloned, policy)
    refuse_submodule_targets(plan, submodules)
    changes = {op.path: op.content if op.kind is not OpKind.DELETE else None for op in plan.changes}
    direct = run.project.push_mode == PushMode.DIRECT
    branch = _target_branch(run)
    try:
        # core.symlinks=false checks tracked symlinks out as plain files: refuse them too.
        check_plan(cloned.path, plan, tracked_symlinks=links)
        sha = _commit(run, cloned, changes, None if direct else branch)
    except UnsafePathError as exc:
        raise RunFailed(str(exc)) from None  # the message starts with "unsafe path"
    Run.objects.filter(pk=run.pk).update(commit_sha=sha, heartbeat=timezone.now())
    checkpoint(run, "after_commit")
    _push(run, cloned, branch, sha, direct=direct)
    return sha


def _finish_pushed(run: Run, sha: str, plan: Plan | None = None) -> None:
    """Pushed; or, when the plan left conflicts, pushed what it could and needs attention.

    `plan`: the plan just stored and applied (its conflicts are the stored ones); without
    it the stored plan is read."""
    checkpoint(run, "after_push")
    branch = _target_branch(run)
    direct = run.project.push_mode == PushMode.DIRECT
    pr_url = _pull_request(run, branch) if not direct else ""
    note = "" if pr_url else pull_requests.pull_request_skip_reason(run.project)
    if not pr_url and not note:
        note = "the forge token could not be read: set it again under Credentials"
    pushed = {"branch": branch, "commit_sha": sha, "pr_url": pr_url, "pr_note": note[:300]}
    run.refresh_from_db()
    if plan is not None:
        conflicts = [conflict.path for conflict in plan.conflicts]
    else:
        conflicts = [c["path"] for c in (run.plan or {}).get("conflicts", [])]
    if conflicts:
        reason = _conflicts_reason(conflicts, nothing=False)
        run_finish(run, RunStatus.NEEDS_ATTENTION, reason=reason, **pushed)
        return
    run_finish(run, RunStatus.PUSHED, **pushed)


def _conflicts_reason(paths: list[str], *, nothing: bool) -> str:
    """Why a run needs attention: the files its plan could not merge."""
    listed = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    done = "Nothing else to change" if nothing else "The rest of the plan was pushed"
    return (
        f"{len(paths)} conflict{'s' if len(paths) != 1 else ''} left for the team, not written: "
        f"{listed}. {done}; resolve the conflicts in the repository (or change the manifest) "
        "and run again."
    )


def _check_same_plan(run: Run, plan: Plan) -> None:
    stored = (run.plan or {}).get("operations", [])
    key = [(op["path"], op["action"]) for op in stored]
    if key != [(op.path, str(op.kind)) for op in plan.operations]:  # no diffs needed
        raise RunFailed(
            "The repository changed since the plan was made. Start a new "
            "provisioning run to re-plan."
        )


def _commit(
    run: Run, cloned: git_ops.ClonedRepo, changes: git_ops.FileChanges, branch: str | None
) -> str:
    assert run.manifest_revision is not None
    message = f"bmadweb: provision {run.project.name} (manifest r{run.manifest_revision.number})"
    written = sum(content is not None for content in changes.values())
    run_log(run, f"Writing {written} files, deleting {len(changes) - written}.")
    try:
        sha = git_ops.commit_files(
            cloned,
            changes,
            branch=branch,
            message=message,
            run_id=str(run.pk),
            author_name=BMADWEB_IDENTITY.name,
            author_email=BMADWEB_IDENTITY.email,
            date=run.created,
            policy=git_policy(),
        )
    except git_ops.NothingToCommit:
        raise RunFailed("The plan wrote nothing new; the repository is already in sync.") from None
    except git_ops.GitLimitExceeded as exc:
        raise RunFailed(f"The commit was refused: {exc}") from None
    run_log(run, f"Committed {sha[:12]}" + (f" on {branch}." if branch else "."))
    return sha


def _push(run: Run, cloned: git_ops.ClonedRepo, branch: str, sha: str, *, direct: bool) -> None:
    project = run.project
    try:
        if direct:
            result = git_ops.push_default(
                cloned,
                project.repo_url,
                branch,
                expected_remote_sha=run.base_sha,
                credentials=credentials_for(project),
                policy=git_policy(),
                sha=sha,
            )
        else:
            result = git_ops.push_branch(
                cloned,
                project.repo_url,
                branch,
                credentials=credentials_for(project),
                policy=git_policy(),
                sha=sha,
            )
    except git_ops.GitDiverged as exc:
        raise RunFailed(f"The branch {branch} diverged on the remote: {exc}") from None
    except git_ops.GitTimeout as exc:
        raise RunRetry(f"Pushing timed out: {exc}") from None
    except git_ops.GitOpsError as exc:
        raise RunFailed(f"Push rejected: {exc}") from None
    run_log(run, f"{result.message.capitalize()}: {branch} at {sha[:12]}.")


def _pull_request(run: Run, branch: str) -> str:
    return pull_requests.open_for_run(run, branch)
