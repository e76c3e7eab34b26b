"""The seed repository the benches share: a BMAD 6.12-shaped install
(provisioning.demo.bmad_installs.build_v64) with padding files of the project's own,
committed on main by the git command line with a fixed identity and no user config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.test",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.test",
}


def git(*args: str, cwd: Path, stdin: bytes | None = None) -> str:
    """Run git with the bench's identity; its output, stripped."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        input=stdin,
        capture_output=True,
        check=True,
    )
    return result.stdout.decode().strip()


def make_seed(folder: Path, extra_files: int) -> Path:
    """`folder/seed`: the install with `extra_files` files beside it, in one commit."""
    from provisioning.demo.bmad_installs import build_v64

    seed = folder / "seed"
    seed.mkdir()
    build_v64(seed, extra_files=extra_files)
    git("init", "--quiet", "--initial-branch", "main", cwd=seed)
    git("add", "--all", cwd=seed)
    git("commit", "--quiet", "--message", "Install BMAD", cwd=seed)
    return seed
