"""Fixtures for the git door's tests: a policy that allows local remotes, a small remote,
and canaries armed to be touched by any hook, script or template git might run."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.git_ops import GitPolicy
from tests.provisioning.git_ops.git_helpers import make_remote


@pytest.fixture
def policy(tmp_path: Path) -> GitPolicy:
    return GitPolicy(
        allow_local=True,
        max_repo_bytes=5 * 1024 * 1024,
        timeout_s=20,
        temp_base=tmp_path / "work",
    )


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path / "remotes", {"README.md": "hello\n", "docs/a.txt": "a\n"})


@pytest.fixture
def armed(tmp_path: Path) -> dict[str, Path]:
    """A script, a hooks folder and a template that each touch a canary if ever run."""
    canaries = tmp_path / "canaries"
    canaries.mkdir()
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {canaries}/script\nexit 1\n")
    script.chmod(0o755)
    hooks = tmp_path / "evil-hooks"
    hooks.mkdir()
    for hook in (
        "post-checkout",
        "pre-commit",
        "commit-msg",
        "prepare-commit-msg",
        "post-commit",
        "pre-push",
        "reference-transaction",
        "pre-receive",
        "post-receive",
        "update",
        "post-update",
        "fsmonitor-watchman",
    ):
        path = hooks / hook
        path.write_text(f"#!/bin/sh\ntouch {canaries}/{hook}\n")
        path.chmod(0o755)
    template = tmp_path / "evil-template"
    (template / "hooks").mkdir(parents=True)
    for hook in hooks.iterdir():
        (template / "hooks" / hook.name).write_bytes(hook.read_bytes())
        (template / "hooks" / hook.name).chmod(0o755)
    return {"canaries": canaries, "script": script, "hooks": hooks, "template": template}
