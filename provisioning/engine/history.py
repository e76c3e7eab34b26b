"""Hand edits a BMAD update removed, read from a repository's history (docs/bmad.md#lost-edits).

A hand edit is a commit that changes one of BMAD's own files (a `bmad*` skill in a tool
folder, or a file under `_bmad/` that the installer owns) without running the installer:
it does not touch `_bmad/_config/files-manifest.csv`. When a later commit that did run
the installer rewrote or removed that file and the lines the edit added are neither in
the new text nor in the file today, the edit was lost without a trace. Each loss becomes
a `BMAD_HAND_EDIT_LOST` finding naming the skill, the commits and the lost lines, with
the command that re-applies it.

The history comes from the git door as plain values (`Commit`); this module reads no
repository itself except through the `current` callable its caller passes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from provisioning.engine import detect_read as rd
from provisioning.engine.types import KNOWN_TOOLS, Finding, Generation, Severity, skill_dir_for

CODE = "BMAD_HAND_EDIT_LOST"
INSTALLER_MARK = "_bmad/_config/files-manifest.csv"
_NOT_INSTALLER_OWNED = ("_bmad/custom/", "_bmad/_config/", "_bmad/_memory/")
_MAX_LINES_SHOWN = 8


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    old: str | None  # blob id before the commit, None when the file was added
    new: str | None  # blob id after the commit, None when it was deleted


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    subject: str
    changes: tuple[Change, ...]

    @property
    def ran_installer(self) -> bool:
        return any(change.path == INSTALLER_MARK for change in self.changes)


@dataclass(frozen=True, slots=True)
class LostEdit:
    path: str
    skill: str | None
    edit: Commit
    update: Commit
    lines: tuple[str, ...]


def skill_folders() -> list[str]:
    """Every tool folder any BMAD generation keeps skills in."""
    found = {
        folder
        for generation in (Generation.V6_1, Generation.V6_4)
        for tool in KNOWN_TOOLS
        if (folder := skill_dir_for(generation, tool)) is not None
    }
    return sorted(found)


def watched_paths() -> list[str]:
    """What to read the history of: the tool skill folders, `_bmad/`."""
    return [*skill_folders(), "_bmad"]


def _skill_of(path: str) -> str | None:
    for folder in skill_folders():
        if path.startswith(folder + "/"):
            return path[len(folder) + 1 :].split("/", 1)[0]
    return None


def installer_owned(path: str) -> bool:
    """BMAD's own files: `bmad*` skills (team skills never use that name, D32) and
    `_bmad/` but the team's folders, personal files and backups."""
    skill = _skill_of(path)
    if skill is not None:
        return skill.startswith("bmad")
    if not path.startswith("_bmad/") or path.startswith(_NOT_INSTALLER_OWNED):
        return False
    return not path.endswith((".user.toml", ".bak"))


def _edits(commits: Sequence[Commit]) -> Iterable[tuple[int, Commit, Change]]:
    """(index, commit, change) of every hand edit of an installer file."""
    for index, commit in enumerate(commits):
        if commit.ran_installer:
            continue
        for change in commit.changes:
            if change.old and change.new and installer_owned(change.path):
                yield index, commit, change


def _overwrite(commits: Sequence[Commit], after: int, path: str) -> tuple[Commit, Change] | None:
    """The first installer run after `after` that rewrote or removed `path`."""
    for commit in commits[after + 1 :]:
        if not commit.ran_installer:
            continue
        for change in commit.changes:
            if change.path == path:
                return commit, change
    return None


def blobs_needed(commits: Sequence[Commit]) -> set[str]:
    """The blob contents `lost_edits` reads: each edit's two sides and the update's text."""
    needed: set[str] = set()
    for index, _, change in _edits(commits):
        overwrite = _overwrite(commits, index, change.path)
        if overwrite is None:
            continue
        needed |= {b for b in (change.old, change.new, overwrite[1].new) if b}
    return needed


def _text(blobs: Mapping[str, bytes], blob: str | None) -> str | None:
    data = blobs.get(blob) if blob else None
    return rd.decode_text(data) if data is not None else None


def _added_lines(before: str, after: str) -> list[str]:
    old, new = before.splitlines(), after.splitlines()
    added: list[str] = []
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag in ("insert", "replace"):
            added += [line for line in new[j1:j2] if line.strip()]
    return added


def lost_edits(
    commits: Sequence[Commit],
    blobs: Mapping[str, bytes],
    current: Callable[[str], str | None],
) -> list[LostEdit]:
    """Hand edits whose added lines a later installer run removed and that are not back.

    `current(path)` is the file's text today (None when absent)."""
    lost: list[LostEdit] = []
    for index, commit, change in _edits(commits):
        overwrite = _overwrite(commits, index, change.path)
        before, edited = _text(blobs, change.old), _text(blobs, change.new)
        if overwrite is None or before is None or edited is None:
            continue
        update, rewritten = overwrite
        after = _text(blobs, rewritten.new) if rewritten.new else ""
        if after is None:
            continue
        kept = {line.strip() for line in (after + "\n" + (current(change.path) or "")).splitlines()}
        gone = tuple(line for line in _added_lines(before, edited) if line.strip() not in kept)
        if gone:
            lost.append(LostEdit(change.path, _skill_of(change.path), commit, update, gone))
    return lost


def lost_edit_findings(lost: Sequence[LostEdit]) -> list[Finding]:
    """One finding per skill (or other BMAD file) and edit commit."""
    groups: dict[tuple[str | None, str], list[LostEdit]] = {}
    for item in lost:
        groups.setdefault((item.skill, item.edit.sha), []).append(item)
    return [_finding(items) for items in groups.values()]


def _finding(items: list[LostEdit]) -> Finding:
    first = items[0]
    edit, update = first.edit, first.update
    what = f"skill {first.skill}" if first.skill else "BMAD's files"
    lines = [line for item in items for line in item.lines]
    shown = "".join(f"\n  + {line[:160]}" for line in lines[:_MAX_LINES_SHOWN])
    more = (
        f"\n  … and {len(lines) - _MAX_LINES_SHOWN} more" if len(lines) > _MAX_LINES_SHOWN else ""
    )
    paths = " ".join(dict.fromkeys(item.path for item in items))
    target = f"_bmad/custom/{first.skill}.toml" if first.skill else "_bmad/custom/"
    return Finding(
        code=CODE,
        severity=Severity.WARNING,
        title=f"A hand edit of {what} was lost in a BMAD update",
        explanation=(
            f"Commit {edit.sha[:12]} ({edit.subject!r}) edited {paths}; the BMAD update in "
            f"commit {update.sha[:12]} ({update.subject!r}) rewrote the file, and these "
            f"lines are gone:{shown}{more}"
        ),
        recommendation=(
            f"Re-apply the edit with `git diff {edit.sha[:12]}^ {edit.sha[:12]} -- {paths} | "
            f"git apply --3way`, then move it into {target}, which BMAD updates keep (or "
            "let a bmadweb upgrade run save and re-offer such edits)."
        ),
        fixable=False,
        paths=tuple(dict.fromkeys(item.path for item in items)),
    )
