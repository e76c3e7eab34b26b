"""Budgets: a repository over the size limit is stopped and leaves nothing, the temporary
work folder goes even on errors, and a hanging git dies with its whole process group."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from provisioning.git_ops import GitLimitExceeded, GitPolicy, GitTimeout, clone, temp_workdir
from tests.provisioning.git_ops.git_helpers import PUBLIC, fake_ssh, make_remote


@pytest.fixture(scope="module")
def huge_remote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("huge")
    return make_remote(root, {"blob.bin": os.urandom(30 * 1024 * 1024), "small": "x"})


@pytest.mark.parametrize("limit_mb", [5, 20])
def test_huge_repo_exceeds_the_limit_and_leaves_nothing(
    tmp_path: Path, huge_remote: Path, limit_mb: int
) -> None:
    """5 MB: the transfer watchdog stops git; 20 MB: the size check before checkout."""
    base = tmp_path / "work"
    policy = GitPolicy(allow_local=True, max_repo_bytes=limit_mb * 1024 * 1024, temp_base=base)
    started = time.monotonic()
    with pytest.raises(GitLimitExceeded, match="limit exceeded"), temp_workdir(base) as work:
        clone(str(huge_remote), work / "repo", branch="main", policy=policy)
    assert time.monotonic() - started < 15
    assert list(base.iterdir()) == []


def test_temp_workdir_is_removed_even_on_errors(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), temp_workdir(tmp_path / "base") as work:  # noqa: PT012
        (work / "ro").mkdir()
        (work / "ro" / "f").write_text("x")
        (work / "ro").chmod(0o500)
        raise RuntimeError("boom")
    assert list((tmp_path / "base").iterdir()) == []


def _is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_timeout_kills_git_and_its_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    ssh = fake_ssh(tmp_path, f"sleep 60 &\necho $! > {pid_file}\nsleep 60\n")
    policy = GitPolicy(
        timeout_s=1.0,
        ssh_program=str(ssh),
        temp_base=tmp_path / "work",
        resolve=lambda _host: [PUBLIC],
    )
    started = time.monotonic()
    with pytest.raises(GitTimeout, match="longer than 1 s"):
        clone("git@git.example.org:org/x.git", tmp_path / "c", branch="main", policy=policy)
    assert time.monotonic() - started < 5
    assert _is_gone(int(pid_file.read_text()))
    assert not (tmp_path / "c").exists()
    assert list((tmp_path / "work").iterdir()) == []
