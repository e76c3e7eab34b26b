"""Hand edits a BMAD update removed, found in the clone's history: the git door reads the
commits and blobs, the engine judges them (provisioning/engine/history.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings

from provisioning import git_ops
from provisioning.engine.history import (
    Change,
    Commit,
    blobs_needed,
    lost_edit_findings,
    lost_edits,
    watched_paths,
)
from provisioning.engine.pipeline import finding_to_dict
from provisioning.engine.rescue import read_text
from provisioning.models import LogLevel, Run
from provisioning.runs.repo_access import git_policy
from provisioning.runs.runlog import run_log


def lost_edit_findings_for(
    run: Run,
    cloned: git_ops.ClonedRepo,
    read: Callable[[str], str | None] | None = None,
) -> list[dict[str, Any]]:
    """`BMAD_HAND_EDIT_LOST` findings (as report dictionaries) for the history of the
    clone's tip; a history that cannot be read is a warning in the run log, never a
    failed run. `read` gives a file's text at the tip (default: from the work tree)."""
    if settings.HISTORY_DEPTH <= 1:
        return []
    policy = git_policy()
    try:
        logged = git_ops.changed_files(
            cloned,
            watched_paths(),
            max_commits=settings.HISTORY_DEPTH,
            policy=policy,
            rev=cloned.head_sha,
        )
        commits = [
            Commit(
                c.sha, c.subject, tuple(Change(f.path, f.old_blob, f.new_blob) for f in c.changes)
            )
            for c in logged
        ]
        needed = sorted(blobs_needed(commits))
        blobs = git_ops.read_blobs(cloned, needed, policy=policy) if needed else {}
    except git_ops.GitOpsError as exc:
        run_log(run, f"The history was not read for lost hand edits: {exc}", LogLevel.WARNING)
        return []
    lost = lost_edits(commits, blobs, read or (lambda path: read_text(cloned.path, path)))
    for item in lost:
        run_log(
            run,
            f"Hand edit lost: {item.path} (commit {item.edit.sha[:12]}), removed by the BMAD "
            f"update in {item.update.sha[:12]}.",
            LogLevel.WARNING,
        )
    return [finding_to_dict(f) for f in lost_edit_findings(lost)]
