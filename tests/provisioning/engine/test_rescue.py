"""Saved hand edits get the installer's own text only when its hash is the recorded one."""

from __future__ import annotations

import hashlib
from pathlib import Path

from provisioning.engine.rescue import SavedEdit, with_bases

PATH = "_bmad/bmm/agents/pm.md"


def _pristine(tmp_path: Path, data: bytes) -> Path:
    root = tmp_path / "pristine"
    (root / PATH).parent.mkdir(parents=True)
    (root / PATH).write_bytes(data)
    return root


def test_a_file_with_a_bom_matches_the_hash_of_its_bytes(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf# PM\nShip it.\n"
    root = _pristine(tmp_path, data)
    recorded = {PATH: hashlib.sha256(data).hexdigest()}
    (edit,) = with_bases([SavedEdit(PATH, None, "# PM\nShip it today.\n")], root, recorded)
    assert edit.base == "# PM\nShip it.\n"


def test_a_recorded_prefix_matches_and_a_different_hash_does_not(tmp_path: Path) -> None:
    data = b"# PM\nShip it.\n"
    root = _pristine(tmp_path, data)
    saved = [SavedEdit(PATH, None, "# PM\nShip it today.\n")]
    prefix = {PATH: hashlib.sha256(data).hexdigest()[:16]}
    assert with_bases(saved, root, prefix)[0].base == "# PM\nShip it.\n"
    other = {PATH: hashlib.sha256(b"something else").hexdigest()}
    assert with_bases(saved, root, other)[0].base is None
    assert with_bases(saved, root, {})[0].base is None
