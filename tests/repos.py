"""Real git repositories for tests: a bare "remote" holding a BMAD install, and helpers
to read what landed on it. Tests drive git directly here; the product only through
provisioning.git_ops."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from provisioning.demo.bmad_installs import DEMO_MANIFEST, build_v64

__all__ = [
    "DEMO_MANIFEST",
    "PLATFORM_BASE",
    "git",
    "make_remote",
    "merge_branch",
    "push_change",
    "remote_branches",
    "remote_commits",
    "remote_file",
]

# A small base manifest, as a platform team keeps one (discovery registers under it).
PLATFORM_BASE = """\
apiVersion: bmadweb/v1
project:
  bmad_version: ">=6.4,<7"
  modules: [core, bmm]
  tools: [claude-code]
"""

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "Team Member",
    "GIT_AUTHOR_EMAIL": "team@example.test",
    "GIT_COMMITTER_NAME": "Team Member",
    "GIT_COMMITTER_EMAIL": "team@example.test",
}


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


def make_remote(tmp_path: Path, *, name: str = "remote.git", branch: str = "main") -> Path:
    """A bare repository whose `branch` holds a BMAD 6.12-shaped install."""
    work = tmp_path / f"{name}-seed"
    work.mkdir()
    build_v64(work)
    git("init", "--quiet", "--initial-branch", branch, cwd=work)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "--message", "Install BMAD", cwd=work)
    bare = tmp_path / name
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=tmp_path)
    return bare


def remote_commits(bare: Path, ref: str) -> list[str]:
    return git("rev-list", ref, "--", cwd=bare).split()


def remote_branches(bare: Path) -> list[str]:
    out = git("for-each-ref", "--format=%(refname:short)", "refs/heads/", cwd=bare)
    return sorted(out.split())


def remote_file(bare: Path, ref: str, path: str) -> str:
    return git("show", f"{ref}:{path}", cwd=bare)


def push_change(bare: Path, tmp_path: Path, path: str, text: str, *, branch: str = "main") -> str:
    """Commit a change to `branch` of the remote as a team member would; returns the sha."""
    work = tmp_path / f"team-{len(list(tmp_path.iterdir()))}"
    git("clone", "--quiet", "--branch", branch, str(bare), str(work), cwd=tmp_path)
    target = work / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "--message", f"edit {path}", cwd=work)
    git("push", "--quiet", "origin", branch, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def merge_branch(bare: Path, tmp_path: Path, branch: str, *, into: str = "main") -> None:
    """The team fast-forwards `into` to `branch` on the remote (merging the pull request)."""
    work = tmp_path / f"merge-{len(list(tmp_path.iterdir()))}"
    git("clone", "--quiet", "--branch", into, str(bare), str(work), cwd=tmp_path)
    git("merge", "--quiet", "--ff-only", f"origin/{branch}", cwd=work)
    git("push", "--quiet", "origin", into, cwd=work)
