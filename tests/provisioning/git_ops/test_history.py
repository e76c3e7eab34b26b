"""Reading history through the git door: the files each commit changed (oldest first,
limited to paths and a number of commits) and blob contents under a size cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.git_ops import GitOpsError, GitPolicy, InvalidInput, changed_files, read_blobs
from tests.repos import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git("init", "--quiet", "--initial-branch", "main", cwd=root)
    (root / "watched").mkdir()
    (root / "watched" / "a file.md").write_text("one\n")
    (root / "other.txt").write_text("x\n")
    git("add", "--all", cwd=root)
    git("commit", "--quiet", "-m", "first", cwd=root)
    (root / "watched" / "a file.md").write_text("one\ntwo\n")
    (root / "watched" / "é.md").write_text("accent\n")
    git("add", "--all", cwd=root)
    git("commit", "--quiet", "-m", "second: edit and add", cwd=root)
    (root / "other.txt").write_text("y\n")
    git("commit", "--quiet", "--all", "-m", "elsewhere", cwd=root)
    git("rm", "--quiet", "watched/é.md", cwd=root)
    git("commit", "--quiet", "-m", "third: remove", cwd=root)
    return root


def test_commits_come_oldest_first_with_their_changes_under_the_paths(
    repo: Path, policy: GitPolicy
) -> None:
    commits = changed_files(repo, ["watched"], max_commits=10, policy=policy)
    assert [c.subject for c in commits] == ["first", "second: edit and add", "third: remove"]
    second = {c.path: c for c in commits[1].changes}
    assert set(second) == {"watched/a file.md", "watched/é.md"}
    assert second["watched/a file.md"].old_blob
    assert second["watched/a file.md"].new_blob
    assert second["watched/é.md"].old_blob is None  # added
    (removed,) = commits[2].changes
    assert (removed.path, removed.new_blob) == ("watched/é.md", None)
    blobs = read_blobs(repo, [second["watched/a file.md"].new_blob or ""], policy=policy)
    assert list(blobs.values()) == [b"one\ntwo\n"]


def test_the_number_of_commits_is_bounded(repo: Path, policy: GitPolicy) -> None:
    commits = changed_files(repo, ["watched"], max_commits=2, policy=policy)
    assert [c.subject for c in commits] == ["second: edit and add", "third: remove"]
    with pytest.raises(InvalidInput):
        changed_files(repo, ["watched"], max_commits=0, policy=policy)
    with pytest.raises(InvalidInput):
        changed_files(repo, ["--output=/tmp/x"], max_commits=5, policy=policy)


def test_blobs_are_read_under_a_cap_and_unknown_ids_are_skipped(
    repo: Path, policy: GitPolicy
) -> None:
    (first,) = changed_files(repo, ["watched"], max_commits=10, policy=policy)[0].changes
    blob = first.new_blob or ""
    assert read_blobs(repo, [blob, "0" * 40, "not-an-id"], policy=policy) == {blob: b"one\n"}
    with pytest.raises(GitOpsError, match="too large"):
        read_blobs(repo, [blob], policy=policy, max_bytes=2)
