"""Seeding a bare repository from a folder (demo data and tests)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from provisioning.git_ops.process import git_session, run_git
from provisioning.git_ops.refs import validate_base_branch
from provisioning.git_ops.repo import rev_parse_head
from provisioning.git_ops.types import GitPolicy, Identity, StrPath


def init_bare_from_tree(
    tree: StrPath,
    bare: StrPath,
    *,
    branch: str,
    message: str,
    identity: Identity,
    date: datetime,
    policy: GitPolicy,
) -> str:
    """Create the bare repository ``bare`` whose ``branch`` holds one commit of ``tree``.

    For the development demo and benchmarks: a local "remote" that bmadweb can then
    clone and push to like any other. Returns the commit id.
    """
    validate_base_branch(branch, policy=policy)
    tree_path, bare_path = Path(tree), Path(bare)
    with git_session(policy, identity=identity, date=date) as session:
        run_git(
            session,
            ["init", "--quiet", f"--initial-branch={branch}", "--", "."],
            cwd=tree_path,
            step="init",
        )
        run_git(session, ["add", "--all", "--", "."], cwd=tree_path, step="add")
        body = f"{message.strip()}\n".encode()
        run_git(
            session,
            ["commit", "--quiet", "--no-verify", "--no-gpg-sign", "--file=-"],
            cwd=tree_path,
            step="commit",
            stdin=body,
        )
        run_git(
            session,
            ["clone", "--quiet", "--bare", "--", str(tree_path), str(bare_path)],
            cwd=tree_path.parent,
            step="clone",
        )
        return rev_parse_head(session, tree_path)
