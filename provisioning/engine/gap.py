"""Gap analysis: compare a repository with what its manifest implies (docs/bmad.md#item-states).

Every generated path gets one `ItemState`, decided from three texts: the file now in
the repository (ours), the text bmadweb wrote last (the lock file's base) and what the
generator produces now (theirs). Lock entries that the manifest no longer implies are
orphaned. Only the target paths and the lock file are read, and nothing is written;
a target reached through a symlink is reported unsafe and not read.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from provisioning.engine import detect_read as rd
from provisioning.engine.generator import (
    Generated,
    GeneratedFile,
    InPlaceEdit,
    generate,
    with_released,
)
from provisioning.engine.lockfile import MAX_LOCK_BYTES, Lock, parse_lock
from provisioning.engine.manifest import Manifest
from provisioning.engine.mcp_inventory import ToolingInventory
from provisioning.engine.paths import LOCK_PATH, relpath_problem
from provisioning.engine.readset import PATH, note
from provisioning.engine.types import BmadInstall, Finding

MAX_FILE_BYTES = 4 * 1024 * 1024


class ItemState(StrEnum):
    MISSING = "missing"
    UP_TO_DATE = "up-to-date"
    OUTDATED = "outdated"
    MODIFIED = "modified"
    CONFLICT = "conflict"
    ORPHANED = "orphaned"
    UNMANAGED = "unmanaged"


_REASONS = {
    ItemState.MISSING: "Not in the repository; bmadweb will create it.",
    ItemState.UP_TO_DATE: "Matches what the generator produces now.",
    ItemState.OUTDATED: "Unchanged since bmadweb wrote it; the generator's output changed.",
    ItemState.MODIFIED: (
        "Edited in the repository since bmadweb wrote it; the generator's output is "
        "unchanged, so the edit is kept."
    ),
    ItemState.CONFLICT: (
        "Edited in the repository and the generator's output changed; a 3-way merge "
        "with the last written base is needed."
    ),
    ItemState.ORPHANED: "bmadweb wrote it earlier, but the manifest no longer declares it.",
    ItemState.UNMANAGED: (
        "A file bmadweb did not write sits at this path; it is only replaced with force."
    ),
}
_KEYED_CONFLICT = (
    "Edited in the repository and the generator's output changed; a key-by-key 3-way "
    "merge with the last written base is needed."
)
_TEMPLATE_FILLED = (
    "BMAD's installer left an empty template here; bmadweb fills it with the manifest's values."
)
_SECTION_MISSING = (
    "bmadweb's entries are not in this file yet; they will be added and the rest of the file kept."
)


@dataclass(frozen=True, slots=True)
class ManagedItem:
    path: str
    state: ItemState
    reason: str
    kind: str
    unsafe: bool = False  # symlink, non-regular or unreadable: never read nor written
    current: str | None = field(default=None, repr=False)  # text in the repo now
    base: str | None = field(default=None, repr=False)  # lock base (last written)
    generated: GeneratedFile | None = field(default=None, repr=False, compare=False)

    @property
    def expected(self) -> str | None:
        """What the file should become (computed on demand: TOML edits are slow)."""
        if self.generated is None:
            return None
        return self.generated.render(self.current, self.base)

    @property
    def theirs(self) -> str | None:
        """The generator's output against the last written base (3-way merge side)."""
        if self.generated is None:
            return None
        if self.base is None:
            return self.expected
        return self.generated.render(self.base, self.base)


@dataclass(frozen=True, slots=True)
class GapReport:
    install: BmadInstall
    findings: tuple[Finding, ...]
    items: tuple[ManagedItem, ...]
    notes: tuple[str, ...] = ()
    lock: Lock = field(default_factory=Lock, repr=False)
    lock_text: str | None = field(default=None, repr=False)
    tooling: ToolingInventory | None = field(default=None, repr=False)  # MCP, subagents

    def counts(self) -> dict[str, int]:
        """Number of items per state, every state present."""
        found = Counter(item.state for item in self.items)
        return {state.value: found.get(state, 0) for state in ItemState}

    @property
    def in_sync(self) -> bool:
        return all(i.state in (ItemState.UP_TO_DATE, ItemState.MODIFIED) for i in self.items)


class _Reader:
    """Reads repo files without following symlinks; parent checks are cached."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._prefix = f"{self.root}{os.sep}"  # plain strings: pathlib is slow per file
        self._dirs: dict[str, bool | None] = {"": True}

    def _dir_ok(self, rel_dir: str) -> bool | None:
        """True: a real directory; False: unsafe (symlink/file); None: absent."""
        if rel_dir in self._dirs:
            return self._dirs[rel_dir]
        note(PATH, rel_dir)
        parent, _, _ = rel_dir.rpartition("/")
        result = self._dir_ok(parent)
        if result:
            try:
                mode = os.lstat(self._prefix + rel_dir).st_mode
                result = stat.S_ISDIR(mode) and not stat.S_ISLNK(mode)
            except FileNotFoundError:
                result = None
        self._dirs[rel_dir] = result
        return result

    def read(self, rel: str, limit: int = MAX_FILE_BYTES) -> tuple[str | None, str | None]:
        """(text or None when absent, why it is unsafe or None)."""
        problem = relpath_problem(rel)
        if problem:
            return None, f"Unsafe path: {problem}."
        note(PATH, rel)
        parent_ok = self._dir_ok(rel.rpartition("/")[0])
        if parent_ok is None:
            return None, None
        if not parent_ok:
            return None, "Unsafe path: a parent folder is a symlink or not a folder."
        try:
            fd = os.open(self._prefix + rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None, None
        except OSError:
            return None, "Unsafe path: the file is a symlink or cannot be opened."
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None, "Unsafe path: not a regular file."
            if info.st_size > limit:
                return None, "The file is too large to be a bmadweb file; left alone."
            data = handle.read()
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            return None, "The file is not UTF-8 text; left alone."


def _plain_state(gf: GeneratedFile, current: str | None, base: str | None) -> tuple[ItemState, str]:
    if current is None:
        return ItemState.MISSING, ""
    if current == gf.content:
        return ItemState.UP_TO_DATE, ""
    if base is None and _blank_agent_template(gf, current):
        return ItemState.MISSING, _TEMPLATE_FILLED
    if base is None:
        return ItemState.UNMANAGED, ""
    if gf.content == base:
        return ItemState.MODIFIED, ""
    if current == base:
        return ItemState.OUTDATED, ""
    return ItemState.CONFLICT, ""


def _blank_agent_template(gf: GeneratedFile, current: str) -> bool:
    """BMAD 6.0 - 6.2's own empty `<module>-<agent>.customize.yaml`, which holds no value a
    team set: bmadweb may fill it without force (docs/bmad.md#gen-6-0)."""
    return (
        gf.kind == "customization"
        and gf.path.endswith(".customize.yaml")
        and not rd.yaml_carries_values(current.encode("utf-8", "surrogatepass"))
    )


def _in_place_state(
    edit: InPlaceEdit, current: str | None, base: str | None
) -> tuple[ItemState, str]:
    """Same rules as `_plain_state`, decided from plain values without re-rendering."""
    if current is None:
        return ItemState.MISSING, ""
    if not edit.changes(current, base):
        return ItemState.UP_TO_DATE, ""
    if base is None:
        return ItemState.MISSING, _SECTION_MISSING
    if edit.problem(base) is None and not edit.changes(base, base):
        return ItemState.MODIFIED, ""
    if edit.untouched(current, base):  # only bmadweb's part
        return ItemState.OUTDATED, ""
    return ItemState.CONFLICT, ""


def classify(gf: GeneratedFile, current: str | None, base: str | None) -> ManagedItem:
    """The state of one generated file from (current, lock base, generator output)."""
    if gf.edit is None:
        state, reason = _plain_state(gf, current, base)
    else:
        problem = gf.edit.problem(current)
        if problem:
            reason = f"The file cannot be edited in place: {problem}."
            return ManagedItem(
                gf.path, ItemState.CONFLICT, reason, gf.kind, current=current, base=base
            )
        state, reason = _in_place_state(gf.edit, current, base)
    if state is ItemState.CONFLICT and gf.path.endswith((".toml", ".json")):
        reason = reason or _KEYED_CONFLICT
    return ManagedItem(
        gf.path, state, reason or _REASONS[state], gf.kind, current=current, base=base, generated=gf
    )


def _orphans(reader: _Reader, lock: Lock, targets: set[str]) -> list[ManagedItem]:
    items: list[ManagedItem] = []
    for path in sorted(set(lock.files) - targets):
        current, unsafe = reader.read(path)
        base = lock.files[path].base
        if unsafe:
            items.append(ManagedItem(path, ItemState.ORPHANED, unsafe, "orphan", unsafe=True))
        elif current is not None:
            edited = " It was edited since." if current != base else ""
            reason = _REASONS[ItemState.ORPHANED] + edited
            items.append(ManagedItem(path, ItemState.ORPHANED, reason, "orphan", False, current))
    return items


def read_lock(root: Path) -> Lock:
    """The lock file as the gap analysis reads it: an absent, unsafe or unreadable lock is
    an empty one."""
    text, _ = _Reader(root).read(LOCK_PATH, MAX_LOCK_BYTES)
    return parse_lock(text).lock


def analyze_generated(
    root: Path,
    generated: Generated,
    install: BmadInstall,
    *,
    findings: Sequence[Finding] = (),
) -> GapReport:
    """Gap report for already generated files (lets callers reuse one generation)."""
    reader = _Reader(root)
    lock_text, lock_unsafe = reader.read(LOCK_PATH, MAX_LOCK_BYTES)
    lock_read = parse_lock(lock_text)
    notes = [*generated.notes, *(f"Lock file: {p}" for p in lock_read.problems)]
    if lock_unsafe:
        notes.append(f"Lock file ignored: {lock_unsafe}")
    generated = with_released(
        generated, lock_read.lock.files, lambda p: reader.read(p)[0] is not None
    )
    items: list[ManagedItem] = []
    for gf in generated.files:
        current, unsafe = reader.read(gf.path)
        entry = lock_read.lock.files.get(gf.path)
        if unsafe:
            items.append(ManagedItem(gf.path, ItemState.UNMANAGED, unsafe, gf.kind, unsafe=True))
            continue
        items.append(classify(gf, current, entry.base if entry else None))
    items += _orphans(reader, lock_read.lock, {f.path for f in generated.files})
    return GapReport(
        install=install,
        findings=tuple(findings),
        items=tuple(sorted(items, key=lambda i: i.path)),
        notes=tuple(notes),
        lock=lock_read.lock,
        lock_text=lock_text,
    )


def analyze(
    root: Path,
    manifest: Manifest,
    install: BmadInstall,
    *,
    findings: Sequence[Finding] = (),
) -> GapReport:
    """Read-only gap report of `root` against `manifest` for the detected `install`."""
    return analyze_generated(root, generate(manifest, install), install, findings=findings)
