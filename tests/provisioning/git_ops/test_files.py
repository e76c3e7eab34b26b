"""Writes into a clone never follow a link: symlinks committed to the repository (checked
out as plain files), links, hard links and FIFOs in a work tree, .git paths and
traversal are refused; ordinary writes and deletes do their job."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from provisioning.engine.plan import Operation, OpKind, Plan, apply_plan
from provisioning.git_ops import (
    GitPolicy,
    UnsafePath,
    clone,
    safe_delete,
    safe_write,
    tracked_symlinks,
)
from tests.provisioning.git_ops.git_helpers import make_remote, run_git


@pytest.fixture
def outside(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "outside"
    folder.mkdir()
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0\n")
    return {"folder": folder, "passwd": passwd}


def assert_outside_untouched(outside: dict[str, Path]) -> None:
    assert list(outside["folder"].iterdir()) == []
    assert outside["passwd"].read_text() == "root:x:0:0\n"


def test_symlinks_in_a_cloned_repo_make_writes_unsafe(
    tmp_path: Path, outside: dict[str, Path], policy: GitPolicy
) -> None:
    src = tmp_path / "remotes" / "links-src"
    bare = make_remote(tmp_path / "remotes", {"README.md": "x\n"}, name="links")
    work = tmp_path / "remotes" / "links-src"
    (src / ".claude").mkdir()
    (src / ".claude" / "skills").symlink_to(outside["folder"])
    (src / "SKILL.md").symlink_to(outside["passwd"])
    run_git(work, "add", "-A")
    run_git(work, "commit", "-q", "-m", "links")
    run_git(work, "push", "-q", str(bare), "main")
    cloned = clone(str(bare), tmp_path / "c", branch="main", policy=policy)
    # core.symlinks=false: git writes the link text into plain files, never a link.
    assert not (cloned.path / "SKILL.md").is_symlink()
    for rel in (".claude/skills/x/SKILL.md", ".claude/skills", "SKILL.md"):
        with pytest.raises(UnsafePath, match="unsafe path"):
            safe_write(cloned.path, rel, "pwned", policy=policy)
    with pytest.raises(UnsafePath):
        safe_delete(cloned.path, "SKILL.md", policy=policy)
    # The engine's plan writer refuses them too once told which paths git records as links.
    links = tracked_symlinks(cloned, policy)
    assert links == {".claude/skills", "SKILL.md"}
    link_text = (cloned.path / "SKILL.md").read_text()
    update = Plan((Operation(OpKind.UPDATE, "SKILL.md", "r", "pwned\n"),))
    with pytest.raises(UnsafePath, match="is a symlink in the repository"):
        apply_plan(cloned.path, update, tracked_symlinks=links)
    assert (cloned.path / "SKILL.md").read_text() == link_text
    assert_outside_untouched(outside)


@pytest.fixture
def tree(tmp_path: Path, outside: dict[str, Path]) -> Path:
    """A work tree with real symlinks, as another tool might have left it."""
    root = tmp_path / "tree"
    (root / ".claude").mkdir(parents=True)
    (root / ".claude" / "skills").symlink_to(outside["folder"])
    (root / "SKILL.md").symlink_to(outside["passwd"])
    (root / "inside.txt").write_text("inside\n")
    (root / "alias").symlink_to(root / "inside.txt")
    (root / "dirlink").symlink_to(root / ".claude")
    os.link(outside["passwd"], root / "hardlink")
    os.mkfifo(root / "fifo")
    return root


@pytest.mark.parametrize(
    "rel",
    [
        ".claude/skills/x/SKILL.md",
        ".claude/skills/SKILL.md",
        "SKILL.md",
        "alias",
        "dirlink/x",
        "hardlink",
        "fifo",
        ".git/hooks/post-checkout",
        ".GIT/config",
        "a/.Git./x",
        "git~1/config",
        "../outside/x",
        "a/../../x",
        "/etc/passwd",
        "a//b",
        "./a",
        "a\\b",
        "a\x00b",
        "",
    ],
)
def test_unsafe_relative_paths_are_refused(tree: Path, outside: dict[str, Path], rel: str) -> None:
    with pytest.raises(UnsafePath, match="unsafe path"):
        safe_write(tree, rel, "pwned")
    assert_outside_untouched(outside)
    assert not (tree / ".git").exists()


@pytest.mark.parametrize("rel", ["SKILL.md", "alias", "dirlink/skills", ".git/x", "fifo"])
def test_unsafe_deletes_are_refused(tree: Path, outside: dict[str, Path], rel: str) -> None:
    with pytest.raises(UnsafePath):
        safe_delete(tree, rel)
    assert_outside_untouched(outside)


def test_safe_write_and_delete_do_their_job(tree: Path) -> None:
    path = safe_write(tree, "_bmad/custom/a/b.md", "one\n")
    assert path == tree / "_bmad" / "custom" / "a" / "b.md"
    safe_write(tree, "_bmad/custom/a/b.md", b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) & 0o022 == 0
    assert safe_delete(tree, "_bmad/custom/a/b.md") is True
    assert safe_delete(tree, "_bmad/custom/a/b.md") is False
    assert safe_delete(tree, "missing/dir/file") is False
    assert (tree / "inside.txt").read_text() == "inside\n"
