"""Branch names, base branches and commit ids: checked against strict patterns and git's own
check-ref-format before they reach git."""

from __future__ import annotations

import functools
import re

from provisioning.git_ops.process import git_session, run_git
from provisioning.git_ops.types import GitPolicy, InvalidInput

BRANCH_RE = re.compile(r"^bmadweb/[a-z0-9][a-z0-9-]{0,62}/[0-9a-z-]{1,64}$")


_BASE_BRANCH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+-]{0,254}$")


SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def validate_branch_name(name: str, *, policy: GitPolicy | None = None) -> str:
    """A branch bmadweb creates: ``bmadweb/<project>/<run>``, also accepted by
    ``git check-ref-format --branch``."""
    if not isinstance(name, str) or not BRANCH_RE.match(name):
        raise InvalidInput("branch names must look like bmadweb/<project>/<run>")
    _check_ref_format(name, policy or GitPolicy())
    return name


def validate_base_branch(name: str, *, policy: GitPolicy | None = None) -> str:
    """A branch that already exists on the remote (the default branch)."""
    if not isinstance(name, str) or not _BASE_BRANCH_RE.match(name):
        raise InvalidInput("the branch name contains characters bmadweb does not accept")
    _check_ref_format(name, policy or GitPolicy())
    return name


def _check_ref_format(name: str, policy: GitPolicy) -> None:
    if not _git_accepts_branch(name, policy):
        raise InvalidInput("git does not accept this branch name")


@functools.lru_cache(maxsize=256)
def _git_accepts_branch(name: str, policy: GitPolicy) -> bool:
    """git's own verdict on a branch name, asked once per name and policy (git binary)
    in a process: a run checks its branch before the commit and again before the push,
    and every clone checks the same default branch."""
    # The regexes already refuse a leading '-', so the name cannot be read as an option
    # (check-ref-format --branch does not accept '--').
    with git_session(policy) as session:
        status, _ = run_git(
            session,
            ["check-ref-format", "--branch", name],
            cwd=session.home,
            step="check-ref-format",
            ok_codes=(0, 1, 128),
        )
    return status == 0


def check_sha(sha: str | None) -> str | None:
    if sha is not None and not (isinstance(sha, str) and SHA_RE.match(sha)):
        raise InvalidInput("commit ids must be 40 or 64 lowercase hex digits")
    return sha


def validate_any_branch(branch: str, policy: GitPolicy) -> None:
    if isinstance(branch, str) and branch.startswith("bmadweb/"):
        validate_branch_name(branch, policy=policy)
    else:
        validate_base_branch(branch, policy=policy)
