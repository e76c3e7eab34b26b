"""Analyses on a per-project mirror (docs/git-door.md#mirrors): where the mirrors live,
their budget, the key of their fingerprints, and the eviction after each run.

Only analysis runs use a mirror: they read the tree and write nothing. Provisioning and
upgrade runs keep a fresh clone per phase, since they commit into it (docs/decisions.md#d49).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from provisioning import git_ops
from provisioning.git_ops.mirror import NeedTree
from provisioning.models import Run
from provisioning.runs.repo_access import credentials_for, git_policy


def mirrors_on() -> bool:
    return settings.MIRROR_BUDGET_MB > 0


def mirror_root() -> Path:
    return Path(settings.WORK_DIR) / "mirrors"


def _fingerprint_key() -> bytes:
    """The key of the mirrors' fingerprints: derived from SECRET_KEY, so the state files
    on disk cannot be used to test guesses of a token (docs/security.md#s8)."""
    return hashlib.sha256(b"bmadweb-mirror-fingerprint\0" + settings.SECRET_KEY.encode()).digest()


@contextlib.contextmanager
def mirror_for(
    run: Run, *, depth: int, need_tree: NeedTree | None = None
) -> Iterator[git_ops.Mirrored]:
    """The run's project mirror at the default branch's tip, locked for the block
    (``need_tree``: see ``git_ops.mirror_use``)."""
    project = run.project
    with git_ops.mirror_use(
        project.repo_url,
        root=mirror_root(),
        key=str(project.pk),
        branch=project.default_branch,
        policy=git_policy(),
        credentials=credentials_for(project),
        depth=depth,
        fingerprint_key=_fingerprint_key(),
        need_tree=need_tree,
    ) as mirrored:
        yield mirrored


def mirrors_evict_after_run() -> list[str]:
    """Least recently used mirrors out until the rest fit the budget (0: all of them)."""
    return git_ops.mirrors_evict(
        mirror_root(), budget_bytes=settings.MIRROR_BUDGET_MB * 1024 * 1024
    )
