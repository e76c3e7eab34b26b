"""commit_files: the plan's changes committed straight into git objects (fast-import) make
the very commit that writing the files and commit_all make - same id, modes, ignored and
converted files - and refuse what would replace a link, a submodule or a folder."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from provisioning.git_ops import (
    ClonedRepo,
    FileChanges,
    GitLimitExceeded,
    GitPolicy,
    InvalidInput,
    NothingToCommit,
    UnsafePath,
    clone,
    commit_all,
    commit_files,
    head_sha,
    push_branch,
    push_default,
    safe_delete,
    safe_write,
)
from tests.provisioning.git_ops.git_helpers import (
    BRANCH,
    DATE,
    make_remote,
    ref_sha,
    run_git,
)

MESSAGE = "  Provision BMAD  \n\n\n  with  trailing spaces \t\n\n"
FIELDS = {
    "message": MESSAGE,
    "run_id": "run-7",
    "author_name": "bmadweb",
    "author_email": "bmadweb@example.org",
    "date": DATE,
}


def _remote(tmp_path: Path, files: dict[str, str], *index: str) -> Path:
    """A remote holding ``files``, then ``update-index`` arguments (modes, links)."""
    bare = make_remote(tmp_path / "remotes", files)
    src = tmp_path / "remotes" / "remote.git-src"
    run_git(src, "update-index", *index)
    run_git(src, "commit", "-q", "-m", "index")
    run_git(src, "push", "-q", str(bare), "main")
    return bare


def _both(
    remote: Path, tmp_path: Path, policy: GitPolicy, changes: FileChanges, **fields: object
) -> tuple[str, str, ClonedRepo]:
    """The commit id through commit_files and through safe writes + commit_all."""
    values = {**FIELDS, **fields}
    fast = clone(str(remote), tmp_path / "fast", branch="main", policy=policy)
    sha = commit_files(fast, changes, branch=BRANCH, policy=policy, **values)  # type: ignore[arg-type]
    slow = clone(str(remote), tmp_path / "slow", branch="main", policy=policy)
    for path, content in changes.items():
        if content is None:
            safe_delete(slow.path, path, policy=policy)
        else:
            safe_write(slow.path, path, content, policy=policy)
    expected = commit_all(slow, branch=BRANCH, policy=policy, **values)  # type: ignore[arg-type]
    return sha, expected, fast


def test_the_same_commit_as_writing_the_files_and_commit_all(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    changes: FileChanges = {
        "README.md": "changed\n",
        "docs/a.txt": None,
        "new/deep/SKILL.md": "new\nno newline at the end",
        "bytes.bin": b"\x00\x01binary",
    }
    sha, expected, fast = _both(remote, tmp_path, policy, changes)
    assert sha == expected
    assert head_sha(fast, policy=policy) == sha  # HEAD follows the commit
    assert run_git(fast.path, "rev-parse", BRANCH) == sha
    assert run_git(fast.path, "rev-parse", f"{sha}^") == fast.head_sha
    message = run_git(fast.path, "show", "-s", "--format=%B", sha)
    assert message == "Provision BMAD\n\n  with  trailing spaces\n\nBmadweb-Run: run-7"
    assert (fast.path / "README.md").read_text() == "hello\n"  # the work tree is left alone


def test_modes_and_offsets_match_commit_all(tmp_path: Path, policy: GitPolicy) -> None:
    remote = _remote(tmp_path, {"run.sh": "#!/bin/sh\n"}, "--chmod=+x", "run.sh")
    date = datetime(2025, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    changes: FileChanges = {"run.sh": "#!/bin/sh\necho hi\n", "new.sh": "x\n"}
    sha, expected, fast = _both(remote, tmp_path, policy, changes, date=date)
    assert sha == expected
    assert run_git(fast.path, "ls-tree", sha, "run.sh").startswith("100755 ")
    assert run_git(fast.path, "show", "-s", "--format=%ad", "--date=raw", sha).endswith("+0530")


def test_new_ignored_files_are_left_out_like_add_all(tmp_path: Path, policy: GitPolicy) -> None:
    remote = make_remote(tmp_path / "remotes", {"tracked.log": "old\n"})
    src = tmp_path / "remotes" / "remote.git-src"
    (src / ".gitignore").write_text("*.log\nbuild/\n")
    run_git(src, "add", ".gitignore")
    run_git(src, "commit", "-q", "-m", "ignore logs")
    run_git(src, "push", "-q", str(remote), "main")
    changes: FileChanges = {
        "debug.log": "ignored\n",
        "build/out.md": "ignored\n",
        "tracked.log": "tracked files are updated\n",
        "kept.md": "kept\n",
    }
    sha, expected, fast = _both(remote, tmp_path, policy, changes)
    assert sha == expected
    files = run_git(fast.path, "ls-tree", "-r", "--name-only", sha).splitlines()
    assert sorted(files) == [".gitignore", "kept.md", "tracked.log"]


@pytest.mark.parametrize(
    ("attributes", "content"),
    [
        ("* text eol=crlf\n", "windows\r\nline\r\n"),
        ("*.md ident\n", "$Id: 1234 $\n"),
        ("* text=auto\n", "plain lf text\n"),
    ],
)
def test_files_that_attributes_convert_get_what_add_makes_of_them(
    tmp_path: Path, policy: GitPolicy, attributes: str, content: str
) -> None:
    remote = make_remote(tmp_path / "remotes", {".gitattributes": attributes, "a.md": "a\n"})
    sha, expected, _ = _both(remote, tmp_path, policy, {"a.md": content, "b.md": content})
    assert sha == expected


def test_no_change_is_nothing_to_commit(tmp_path: Path, remote: Path, policy: GitPolicy) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    same: FileChanges = {"README.md": "hello\n", "missing.md": None}
    with pytest.raises(NothingToCommit):
        commit_files(cloned, same, branch=BRANCH, policy=policy, **FIELDS)  # type: ignore[arg-type]
    assert run_git(cloned.path, "branch", "--list", BRANCH) == ""


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("link", "link is a symlink in the repository"),
        ("link/child.md", "link is a symlink in the repository"),
        ("sub/file.md", "sub is a submodule in the repository"),
        ("README.md/child.md", "README.md is not a folder"),
        ("docs", "docs is a folder"),
        (".git/config", "under .git"),
        ("a/../b.md", "'.' or '..'"),
    ],
)
def test_paths_that_would_replace_a_link_a_submodule_or_a_folder_are_refused(
    tmp_path: Path, policy: GitPolicy, path: str, why: str
) -> None:
    remote = make_remote(
        tmp_path / "remotes", {"README.md": "hello\n", "docs/a.txt": "a\n", "target.md": "t\n"}
    )
    src = tmp_path / "remotes" / "remote.git-src"
    link = run_git(src, "hash-object", "-w", "target.md")  # a link whose target is "t"
    run_git(src, "update-index", "--add", "--cacheinfo", f"120000,{link},link")
    run_git(src, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},sub")
    run_git(src, "commit", "-q", "-m", "a link and a submodule")
    run_git(src, "push", "-q", str(remote), "main")
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    with pytest.raises(UnsafePath, match=why):
        commit_files(cloned, {path: "x\n"}, branch=BRANCH, policy=policy, **FIELDS)  # type: ignore[arg-type]
    assert run_git(cloned.path, "rev-parse", "HEAD") == cloned.head_sha
    assert cloned.tracked_symlinks == frozenset({"link"})
    assert cloned.tracked_submodules == frozenset({"sub"})
    # A clone known only by its path and tip: the listing is read, the same paths refused.
    bare = ClonedRepo(path=cloned.path, branch="main", head_sha=cloned.head_sha)
    with pytest.raises(UnsafePath, match=why):
        commit_files(bare, {path: "x\n"}, branch=BRANCH, policy=policy, **FIELDS)  # type: ignore[arg-type]


def test_a_commit_past_the_file_budget_is_refused(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    """The clone's file budget (BMADWEB_REPO_MAX_FILES) holds for what a run adds: the
    next clone of the pushed branch would refuse it. The remote holds two files."""
    tight = GitPolicy(allow_local=True, max_repo_files=3, timeout_s=20, temp_base=policy.temp_base)
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=tight)
    over: FileChanges = {"one.md": "1\n", "two.md": "2\n"}
    with pytest.raises(GitLimitExceeded, match="4 files, more than the 3 allowed"):
        commit_files(cloned, over, branch=BRANCH, policy=tight, **FIELDS)  # type: ignore[arg-type]
    assert run_git(cloned.path, "branch", "--list", BRANCH) == ""
    within: FileChanges = {**over, "docs/a.txt": None}  # a delete makes room
    sha = commit_files(cloned, within, branch=BRANCH, policy=tight, **FIELDS)  # type: ignore[arg-type]
    assert len(run_git(cloned.path, "ls-tree", "-r", "--name-only", sha).splitlines()) == 3


@pytest.mark.parametrize("path", ["a\nM 100644 inline x", '"quoted"', "tab\there", ":(top)x"])
def test_paths_that_could_change_the_stream_are_refused(
    tmp_path: Path, remote: Path, policy: GitPolicy, path: str
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    with pytest.raises(InvalidInput, match="unsafe path"):
        commit_files(cloned, {path: "x\n"}, branch=BRANCH, policy=policy, **FIELDS)  # type: ignore[arg-type]


def test_content_cannot_end_its_data_block(tmp_path: Path, remote: Path, policy: GitPolicy) -> None:
    evil = "x\n\nreset refs/heads/main\nfrom 0000000000000000000000000000000000000000\n\ndone\n"
    sha, expected, fast = _both(remote, tmp_path, policy, {"evil.md": evil})
    assert sha == expected
    assert run_git(fast.path, "show", f"{sha}:evil.md") == evil.strip()


def test_push_the_commit_by_its_id_on_a_branch_or_directly(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    sha = commit_files(cloned, {"new.md": "new\n"}, branch=BRANCH, policy=policy, **FIELDS)  # type: ignore[arg-type]
    pushed = push_branch(cloned, str(remote), BRANCH, credentials=None, policy=policy, sha=sha)
    again = push_branch(cloned, str(remote), BRANCH, credentials=None, policy=policy, sha=sha)
    assert (pushed.status, again.status, ref_sha(remote, BRANCH)) == (
        "pushed",
        "already_pushed",
        sha,
    )
    direct = clone(str(remote), tmp_path / "d", branch="main", policy=policy)
    sha = commit_files(direct, {"new.md": "direct\n"}, branch=None, policy=policy, **FIELDS)  # type: ignore[arg-type]
    result = push_default(
        direct,
        str(remote),
        "main",
        expected_remote_sha=direct.head_sha,
        credentials=None,
        policy=policy,
        sha=sha,
    )
    assert (result.status, ref_sha(remote, "main")) == ("pushed", sha)
