"""Real git repositories for the git door's tests: a bare "remote" built from a dict of
files, the tests' own git (deterministic and blind to any hostile configuration), and
commit_all with plain test values. Nothing here touches the network."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provisioning.git_ops import ClonedRepo, GitPolicy, clone, commit_all, safe_write

BRANCH = "bmadweb/demo/run-1"
DATE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "canary-token-7f3a9c1e5b"
PUBLIC = "140.82.112.3"


def plain_env(home: Path) -> dict[str, str]:
    """The tests' own git runs: deterministic and blind to any hostile configuration."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_AUTHOR_NAME": "Fixture",
        "GIT_AUTHOR_EMAIL": "fixture@example.org",
        "GIT_COMMITTER_NAME": "Fixture",
        "GIT_COMMITTER_EMAIL": "fixture@example.org",
    }


def run_git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=env or plain_env(cwd),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_remote(root: Path, files: dict[str, str | bytes], *, name: str = "remote.git") -> Path:
    """A bare repository whose main branch holds ``files`` in one commit."""
    src = root / f"{name}-src"
    src.mkdir(parents=True)
    run_git(src, "init", "-q", "-b", "main")
    for rel, content in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
    run_git(src, "add", "-A")
    run_git(src, "commit", "-q", "-m", "initial")
    bare = root / name
    run_git(root, "clone", "-q", "--bare", str(src), str(bare))
    return bare


def commit_count(bare: Path, ref: str) -> int:
    return int(run_git(bare, "rev-list", "--count", ref))


def ref_sha(bare: Path, ref: str) -> str:
    return run_git(bare, "rev-parse", ref)


def commit(cloned: ClonedRepo, policy: GitPolicy, **fields: Any) -> str:
    """commit_all with plain test values for every field not given."""
    values: dict[str, Any] = {
        "branch": BRANCH,
        "message": "m",
        "run_id": "r",
        "author_name": "a",
        "author_email": "a@example.org",
        "date": DATE,
    }
    return commit_all(cloned, **(values | fields), policy=policy)


def clone_and_commit(
    remote: Path, dest: Path, policy: GitPolicy, *, message: str = "Provision BMAD"
) -> ClonedRepo:
    cloned = clone(str(remote), dest, branch="main", policy=policy)
    safe_write(cloned.path, "_bmad/custom/bmadweb.lock", "lock\n", policy=policy)
    commit(
        cloned,
        policy,
        message=message,
        run_id="run-1",
        author_name="bmadweb",
        author_email="bmadweb@example.org",
    )
    return cloned


def assert_no_canary(armed: dict[str, Path]) -> None:
    assert sorted(p.name for p in armed["canaries"].iterdir()) == []


def fake_ssh(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-ssh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script
