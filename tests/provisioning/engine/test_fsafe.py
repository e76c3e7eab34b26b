"""Link-safe writes (docs/security.md#s6): any relative path is refused or lands under the root."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.engine.fsafe import delete_path as delete_file
from provisioning.engine.fsafe import write_path as write_file
from provisioning.engine.paths import UnsafePathError as UnsafePath

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
