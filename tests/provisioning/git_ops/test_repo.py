"""Clone, commit and push against real repositories (a bare "remote" and clones under
tmp_path): exactly one commit lands, a retried run finds it already pushed, a diverged
branch is left alone, and a direct push fast-forwards only from the expected commit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from provisioning.git_ops import (
    GitDiverged,
    GitPolicy,
    InvalidInput,
    NothingToCommit,
    clone,
    head_sha,
    push_branch,
    push_default,
    remote_head,
    safe_write,
)
from tests.provisioning.git_ops.git_helpers import (
    BRANCH,
    DATE,
    clone_and_commit,
    commit,
    commit_count,
    ref_sha,
    run_git,
)


def test_clone_commit_push_lands_exactly_one_commit(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    main_sha = ref_sha(remote, "main")
    cloned = clone_and_commit(remote, tmp_path / "c1", policy)
    assert cloned.head_sha == main_sha
    result = push_branch(
        cloned, str(remote), BRANCH, expected_remote_sha=None, credentials=None, policy=policy
    )
    assert (result.status, result.message, result.branch) == ("pushed", "pushed", BRANCH)
    assert ref_sha(remote, BRANCH) == result.sha == head_sha(cloned)
    assert commit_count(remote, BRANCH) == commit_count(remote, "main") + 1
    assert run_git(remote, "rev-parse", f"{BRANCH}^") == main_sha
    show = run_git(remote, "show", "-s", "--format=%an <%ae>|%ad|%cd|%B", "--date=raw", BRANCH)
    stamp = f"{int(DATE.timestamp())} +0000"
    assert show.startswith(f"bmadweb <bmadweb@example.org>|{stamp}|{stamp}|Provision BMAD")
    assert show.endswith("Bmadweb-Run: run-1")
    assert run_git(remote, "show", f"{BRANCH}:_bmad/custom/bmadweb.lock") == "lock"
    assert list(policy.temp_base.iterdir()) == []  # type: ignore[union-attr]


def test_second_push_and_a_retried_run_say_already_pushed(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    cloned = clone_and_commit(remote, tmp_path / "c1", policy)
    first = push_branch(cloned, str(remote), BRANCH, credentials=None, policy=policy)
    again = push_branch(cloned, str(remote), BRANCH, credentials=None, policy=policy)
    assert (again.status, again.message, again.sha) == (
        "already_pushed",
        "already pushed",
        first.sha,
    )
    # A retried run works in a fresh clone; the commit is deterministic, so same id.
    retried = clone_and_commit(remote, tmp_path / "c2", policy)
    assert head_sha(retried) == first.sha
    third = push_branch(retried, str(remote), BRANCH, credentials=None, policy=policy)
    assert third.status == "already_pushed"
    assert commit_count(remote, BRANCH) == commit_count(remote, "main") + 1


def test_a_different_commit_on_the_branch_is_diverged_and_left_alone(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    other = clone_and_commit(remote, tmp_path / "other", policy, message="Someone else")
    push_branch(other, str(remote), BRANCH, credentials=None, policy=policy)
    theirs = ref_sha(remote, BRANCH)
    ours = clone_and_commit(remote, tmp_path / "ours", policy)
    with pytest.raises(GitDiverged, match="diverged"):
        push_branch(ours, str(remote), BRANCH, credentials=None, policy=policy)
    assert ref_sha(remote, BRANCH) == theirs


def test_direct_push_fast_forwards_main_only_from_the_expected_commit(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    base = ref_sha(remote, "main")
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    safe_write(cloned.path, "new.txt", "x\n", policy=policy)
    sha = commit(
        cloned,
        policy,
        branch=None,
        message="Direct",
        run_id="run-2",
        author_name="bmadweb",
        author_email="b@example.org",
    )
    with pytest.raises(GitDiverged):
        push_default(
            cloned,
            str(remote),
            "main",
            expected_remote_sha="0" * 40,
            credentials=None,
            policy=policy,
        )
    result = push_default(
        cloned, str(remote), "main", expected_remote_sha=base, credentials=None, policy=policy
    )
    assert (result.status, ref_sha(remote, "main")) == ("pushed", sha)
    again = push_default(
        cloned, str(remote), "main", expected_remote_sha=base, credentials=None, policy=policy
    )
    assert again.status == "already_pushed"


def test_remote_head_reads_one_exact_branch(remote: Path, policy: GitPolicy) -> None:
    assert remote_head(str(remote), "main", policy=policy) == ref_sha(remote, "main")
    assert remote_head(str(remote), "missing", policy=policy) is None


def test_commit_without_changes_says_so(tmp_path: Path, remote: Path, policy: GitPolicy) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    with pytest.raises(NothingToCommit):
        commit(cloned, policy)


def test_commit_dates_keep_their_offset_and_must_be_aware(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    safe_write(cloned.path, "x", "x", policy=policy)
    with pytest.raises(InvalidInput, match="timezone"):
        commit(cloned, policy, date=datetime(2025, 1, 1))
    commit(cloned, policy, date=datetime(2025, 1, 1, 10, tzinfo=timezone(timedelta(hours=1))))
    assert run_git(cloned.path, "show", "-s", "--format=%ad", "--date=raw") == "1735722000 +0100"
