"""Link-safe writes (docs/security.md#s6): any relative path is refused or lands under the root."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.engine.fsafe import SafeTree
from provisioning.engine.fsafe import delete_path as delete_file
from provisioning.engine.fsafe import write_path as write_file
from provisioning.engine.paths import UnsafePathError as UnsafePath
from provisioning.engine.paths import relpath_problem

_PIECES = st.sampled_from(
    ["a", "b", "..", ".", "", "/", ".git", ".GIT", "link", "x\x00", "\\", "git~1", "-uX", "é"]
)
_RELATIVE = st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=6).map("/".join))


def _outcome(root: Path, rel: str) -> Path | UnsafePath:
    try:
        return write_file(root, rel, "data", tracked_symlinks={"tracked"})
    except UnsafePath as error:
        return error


@settings(max_examples=200, deadline=None)
@given(rel=_RELATIVE)
def test_any_relative_path_is_refused_or_lands_under_the_root(rel: str) -> None:
    with tempfile.TemporaryDirectory() as base:
        root = Path(base, "root")
        outside = Path(base, "outside")
        root.mkdir()
        outside.mkdir()
        (root / "link").symlink_to(outside)
        outcome = _outcome(root, rel)
        assert list(outside.iterdir()) == []
        if isinstance(outcome, UnsafePath):
            return
        assert outcome.is_relative_to(root)
        assert Path(os.path.realpath(outcome)).is_relative_to(root)
        assert outcome.read_text() == "data"
        assert ".git" not in {part.casefold() for part in outcome.relative_to(root).parts}


def test_tracked_symlinks_refuse_the_entry_and_everything_under_it(tmp_path: Path) -> None:
    for rel in ("tracked", "tracked/child"):
        with pytest.raises(UnsafePath, match="tracked is a symlink in the repository"):
            write_file(tmp_path, rel, "x", tracked_symlinks={"tracked"})
    assert list(tmp_path.iterdir()) == []
    assert delete_file(tmp_path, "untracked", tracked_symlinks={"tracked"}) is False


@settings(max_examples=200, deadline=None)
@given(rels=st.lists(_RELATIVE, min_size=1, max_size=4))
def test_safe_tree_refuses_what_the_single_path_writer_refuses(rels: list[str]) -> None:
    """Many paths through one SafeTree (folders opened once) end exactly as each path
    written alone: refused, or written under the root and nowhere else."""
    with tempfile.TemporaryDirectory() as base:
        alone, batch, outside = Path(base, "alone"), Path(base, "batch"), Path(base, "outside")
        for folder in (alone, batch, outside):
            folder.mkdir()
        for root in (alone, batch):
            (root / "link").symlink_to(outside)
        with SafeTree(batch, tracked_symlinks={"tracked"}) as tree:
            for rel in rels:
                if relpath_problem(rel):
                    # Refused by the tree's check; not written alone either, so that the
                    # two roots stay alike for the paths after it (["0/:", "0"]: the
                    # single-path writer takes "0/:" and "0" becomes a folder there).
                    with pytest.raises(UnsafePath):
                        tree.check(rel)
                    continue
                expected = _outcome(alone, rel)
                try:
                    tree.check(rel)
                    tree.write(rel, "data")
                except UnsafePath:
                    assert isinstance(expected, UnsafePath)
                    continue
                assert not isinstance(expected, UnsafePath)
                assert (batch / rel).read_text() == "data"
        assert list(outside.iterdir()) == []


def test_safe_tree_deletes_plain_files_only(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    (tmp_path / "d" / "sub").mkdir()
    with SafeTree(tmp_path) as tree:
        assert tree.delete("d/f") is True
        assert tree.delete("d/f") is False
        assert tree.delete("missing/f") is False
        with pytest.raises(UnsafePath, match="not a regular file"):
            tree.delete("d/sub")
    assert (tmp_path / "d" / "sub").is_dir()
