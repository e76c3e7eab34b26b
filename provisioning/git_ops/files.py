"""Writing into a clone: link-safe writes and deletes, and the paths git tracks as symlinks."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from provisioning.engine import fsafe
from provisioning.git_ops.process import git_session, run_git
from provisioning.git_ops.types import ClonedRepo, GitPolicy, StrPath


def safe_write(
    root: StrPath, rel: str, content: bytes | str, *, policy: GitPolicy | None = None
) -> Path:
    """Write ``content`` to ``root/rel`` without following any symlink, including the
    ones git records in the index but checked out as plain files (``core.symlinks=false``).
    See :func:`provisioning.engine.fsafe.write_path` for every refusal (:class:`UnsafePath`).
    """
    return fsafe.write_path(root, rel, content, tracked_symlinks=tracked_symlinks(root, policy))


def safe_delete(root: StrPath, rel: str, *, policy: GitPolicy | None = None) -> bool:
    """Delete the plain file ``root/rel`` (False if absent) with the same refusals."""
    return fsafe.delete_path(root, rel, tracked_symlinks=tracked_symlinks(root, policy))


def tracked_symlinks(repo: StrPath | ClonedRepo, policy: GitPolicy | None = None) -> frozenset[str]:
    """Paths git records as symlinks (mode 120000) in the index, if there is one; pass
    them to every write in the clone (``core.symlinks=false`` checks them out as files)."""
    return _tracked(repo, policy, "120000 ")


def tracked_submodules(
    repo: StrPath | ClonedRepo, policy: GitPolicy | None = None
) -> frozenset[str]:
    """Paths git records as submodules (gitlinks, mode 160000). A clone without submodules
    checks them out as empty folders, and git would leave files written there out of the
    commit: a plan must not write into them (docs/security.md#s6)."""
    return _tracked(repo, policy, "160000 ")


def _tracked(repo: StrPath | ClonedRepo, policy: GitPolicy | None, mode: str) -> frozenset[str]:
    root = Path(os.path.realpath(repo.path if isinstance(repo, ClonedRepo) else repo))
    policy = policy or GitPolicy()
    index = root / ".git" / "index"
    try:
        info = os.stat(index, follow_symlinks=False)
    except FileNotFoundError:
        return frozenset()
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
    return _tracked_cached(str(root), stamp, policy).get(mode, frozenset())


@functools.lru_cache(maxsize=64)
def _tracked_cached(
    root: str, _stamp: tuple[int, int, int], policy: GitPolicy
) -> dict[str, frozenset[str]]:
    with git_session(policy) as session:
        _, out = run_git(session, ["ls-files", "--stage", "-z"], cwd=root, step="ls-files")
    found: dict[str, set[str]] = {"120000 ": set(), "160000 ": set()}
    for entry in filter(None, out.split("\0")):
        meta, _, path = entry.partition("\t")
        if meta[:7] in found:
            found[meta[:7]].add(path)
    return {mode: frozenset(paths) for mode, paths in found.items()}
