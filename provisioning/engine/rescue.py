"""Hand edits to installer-owned files, saved before a BMAD upgrade and offered again after
it (docs/bmad.md#rescue).

The installer overwrites its own files on every update, hand edits included. Before an
upgrade, `capture_edits` keeps every installer-owned file whose hash differs from the
one the installer recorded, with the installer's own text of it (taken from a fresh
install of the same version, checked against the recorded hash). After the installer
ran, `reoffer` merges each edit into the new version of its file (line 3-way merge: the
edit is kept only where it merges cleanly) and writes the edits as a patch per skill to
`_bmad/custom/rescued/<skill>.patch`, the one folder updates keep, so they can be applied
again by hand (`git apply --3way`) or moved into `_bmad/custom/<skill>.toml`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.engine import detect_read as rd
from provisioning.engine.detect_managed import skill_folders
from provisioning.engine.findings_files import edited_files, skill_of
from provisioning.engine.merge import merge3
from provisioning.engine.paths import CUSTOM_DIR, is_safe_relpath
from provisioning.engine.plan import Operation, OpKind, unified_diff
from provisioning.engine.types import BmadInstall

RESCUE_DIR = f"{CUSTOM_DIR}/rescued"
_MAX_TEXT = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SavedEdit:
    """One hand-edited installer file, as it was before the upgrade."""

    path: str  # repo-relative
    skill: str | None  # the skill folder it belongs to, None for other BMAD files
    edited: str  # the team's text
    base: str | None = None  # the installer's text of the same version (None: unknown)


@dataclass(frozen=True, slots=True)
class Rescue:
    """What an upgrade does with the saved edits: operations, and a record per file."""

    operations: tuple[Operation, ...] = ()
    records: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()


def read_text(root: Path, rel: str) -> str | None:
    data = rd.read_capped(root, rel, _MAX_TEXT).data
    return rd.decode_text(data) if data is not None else None


def capture_edits(root: Path, install: BmadInstall) -> list[SavedEdit]:
    """Every hand-edited installer-owned text file under `root` (base still unknown)."""
    folders = skill_folders(root, install.generation)
    saved = []
    for path in edited_files(install, root):
        text = read_text(root, path)
        if text is not None and is_safe_relpath(path):
            saved.append(SavedEdit(path, skill_of(path, folders), text))
    return saved


def with_bases(
    saved: Iterable[SavedEdit], pristine_root: Path, hashes: Mapping[str, str]
) -> list[SavedEdit]:
    """`saved` with the installer's own text from a fresh install at `pristine_root`, taken
    only when its hash is the one the repository's installer recorded."""
    out = []
    for edit in saved:
        data = rd.read_capped(pristine_root, edit.path, _MAX_TEXT).data
        base = rd.decode_text(data) if data is not None else None
        if data is not None and base is not None and _recorded(data, hashes.get(edit.path, "")):
            out.append(SavedEdit(edit.path, edit.skill, edit.edited, base))
        else:
            out.append(edit)
    return out


def _recorded(data: bytes, expected: str) -> bool:
    """The installer hashes a file's bytes (a BOM included), not its decoded text."""
    return bool(expected) and hashlib.sha256(data).hexdigest()[: len(expected)] == expected


def patch_path(skill: str | None) -> str:
    return f"{RESCUE_DIR}/{skill or 'bmad-files'}.patch"


def _patch(edits: list[SavedEdit], version: str | None, current: Mapping[str, str | None]) -> str:
    lines = [
        "# Hand edits saved by bmadweb before upgrading BMAD"
        + (f" from {version}" if version else "")
        + ".\n",
        "# Re-apply with `git apply --3way <this file>`, or better, move them into\n",
        "# _bmad/custom/<skill>.toml, which BMAD updates keep.\n",
    ]
    for edit in edits:
        if edit.base is not None:
            lines.append(unified_diff(edit.path, edit.base, edit.edited))
        else:
            # No pristine text of the old version: the edit against the new version.
            lines.append(f"# {edit.path}: the installer's old text was not available; this\n")
            lines.append("# shows the edited file against the upgraded one.\n")
            lines.append(unified_diff(edit.path, current.get(edit.path) or "", edit.edited))
    return "".join(lines)


@dataclass
class _Offer:
    ops: list[Operation] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def reoffer(root: Path, saved: Iterable[SavedEdit], *, from_version: str | None) -> Rescue:
    """After the installer ran under `root`: re-apply each saved edit where it merges
    cleanly into the new text, and save every edit as a patch per skill."""
    offer = _Offer()
    by_skill: dict[str | None, list[SavedEdit]] = {}
    current: dict[str, str | None] = {}
    for edit in saved:
        by_skill.setdefault(edit.skill, []).append(edit)
        current[edit.path] = read_text(root, edit.path)
        _one(edit, current[edit.path], offer)
    for skill, edits in sorted(by_skill.items(), key=lambda kv: kv[0] or ""):
        path = patch_path(skill)
        old = read_text(root, path)
        text = _patch(edits, from_version, current)
        if text != old:
            kind = OpKind.CREATE if old is None else OpKind.UPDATE
            why = "The team's hand edits, saved before the upgrade overwrote them."
            offer.ops.append(Operation(kind, path, why, text, old))
    return Rescue(tuple(offer.ops), tuple(offer.records), tuple(offer.notes))


def _one(edit: SavedEdit, new: str | None, offer: _Offer) -> None:
    record: dict[str, Any] = {
        "path": edit.path,
        "skill": edit.skill,
        "patch": patch_path(edit.skill),
        "reapplied": False,
    }
    offer.records.append(record)
    where = f"{edit.path} (skill {edit.skill})" if edit.skill else edit.path
    if new is None:
        offer.notes.append(
            f"The hand edit of {where} was saved to {record['patch']}: the upgraded BMAD no "
            "longer has this file."
        )
        return
    if edit.base is None:
        offer.notes.append(
            f"The hand edit of {where} was saved to {record['patch']}; the installer's "
            "earlier text was not available, so it is not re-applied automatically."
        )
        return
    merged = merge3(edit.base, edit.edited, new)
    if merged.text is None:
        offer.notes.append(
            f"The hand edit of {where} overlaps the upgraded text; it was saved to "
            f"{record['patch']} and not re-applied."
        )
        return
    record["reapplied"] = merged.text != new
    if record["reapplied"]:
        why = "Re-applies the team's hand edit, saved before the upgrade, to the new version."
        offer.ops.append(Operation(OpKind.MERGE, edit.path, why, merged.text, new))
