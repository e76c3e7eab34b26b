"""Plans (file operations with reasons and diffs) from a gap report, and applying them.

`make_plan` turns each managed item into an operation - create, update, merge, delete
or skip - following docs/bmad.md#item-states, and adds the new lock file as one more
operation. Deletes and merges need approval. An operation keeps the text it replaces and
computes its diff only when asked (`Operation.diff`): a plan that is only compared,
applied or counted never pays for diffs. TOML and JSON files merge key by key
(`tomlmerge`, `jsonmerge`), other files line by line (`merge`); conflicts that the merge
cannot resolve are skipped and listed (with their key paths for TOML and JSON), never
written with markers. `apply_plan` writes
without ever following a symlink (every parent is opened with O_NOFOLLOW).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from provisioning.engine import detect_read as rd
from provisioning.engine.fsafe import SafeTree
from provisioning.engine.gap import GapReport, ItemState, ManagedItem
from provisioning.engine.generator import GENERATOR_VERSION, Generated
from provisioning.engine.jsonedit import JsonEditError
from provisioning.engine.jsonmerge import JsonMergeResult, merge_json
from provisioning.engine.lockfile import Lock, LockEntry, dumps_lock, text_sha256
from provisioning.engine.merge import ConflictHunk, merge3
from provisioning.engine.paths import LOCK_PATH
from provisioning.engine.tomledit import TomlEditError
from provisioning.engine.tomlmerge import TomlMergeResult, merge_toml

_KEYED_MERGES: dict[str, Callable[[str, str, str], TomlMergeResult | JsonMergeResult]] = {
    ".toml": merge_toml,
    ".json": merge_json,
}


class OpKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    MERGE = "merge"
    DELETE = "delete"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Operation:
    kind: OpKind
    path: str
    reason: str
    content: str | None = field(default=None, repr=False)  # new text; None for delete/skip
    before: str | None = field(default=None, repr=False, compare=False)  # the text it replaces
    state: ItemState | None = None  # the gap state that led here (None for the lock)
    # What the diff goes through before anyone sees it (`mcp_review.withhold_secrets`).
    redact: Callable[[str], str] | None = field(default=None, repr=False, compare=False)

    @property
    def diff(self) -> str:
        """Unified diff, old -> new (computed on each access: callers keep the result)."""
        if self.kind is OpKind.SKIP:
            return ""
        new = None if self.kind is OpKind.DELETE else self.content
        text = unified_diff(self.path, self.before, new)
        return self.redact(text) if self.redact is not None and text else text


@dataclass(frozen=True, slots=True)
class PlanConflict:
    path: str
    reason: str
    hunks: tuple[ConflictHunk, ...] = ()  # line merges: the overlapping hunks
    keys: tuple[str, ...] = ()  # TOML/JSON merges: the key paths both sides changed differently


@dataclass(frozen=True, slots=True)
class Plan:
    operations: tuple[Operation, ...]
    conflicts: tuple[PlanConflict, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def requires_approval(self) -> bool:
        return any(op.kind in (OpKind.DELETE, OpKind.MERGE) for op in self.operations)

    @property
    def changes(self) -> tuple[Operation, ...]:
        """Operations that write or delete something."""
        return tuple(op for op in self.operations if op.kind is not OpKind.SKIP)


def unified_diff(path: str, old: str | None, new: str | None) -> str:
    """Git-style unified diff of one file (/dev/null for a missing side)."""
    fromfile = f"a/{path}" if old is not None else "/dev/null"
    tofile = f"b/{path}" if new is not None else "/dev/null"
    if not old or not new:
        # A created or deleted file is one hunk of one side: what difflib gives, without
        # matching lines first (most of a first provisioning is such files).
        return _one_sided(fromfile, tofile, old or "", new or "")
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=fromfile,
        tofile=tofile,
    )
    return "".join(map(_marked, lines))


def _marked(line: str) -> str:
    return line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


# Line boundaries str.splitlines knows besides LF: a text without them splits at LF only.
_OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _one_sided(fromfile: str, tofile: str, old: str, new: str) -> str:
    """difflib.unified_diff's output (marked like `unified_diff`) when one side is empty:
    every line of the other side, signed (nothing if both are empty)."""
    sign, text = ("-", old) if old else ("+", new)
    if not text:
        return ""
    if any(mark in text for mark in _OTHER_BREAKS):
        lines = text.splitlines(keepends=True)
        size, body = len(lines), "".join(_marked(sign + line) for line in lines)
    else:  # LF-only text (the usual case): one pass of str methods, no list of lines
        size = text.count("\n") + (not text.endswith("\n"))
        body = sign + text.replace("\n", "\n" + sign)
        if text.endswith("\n"):
            body = body[: -len(sign)]
        else:
            body += "\n\\ No newline at end of file\n"
    shown = "1" if size == 1 else f"1,{size}"
    ranges = f"-{shown} +0,0" if old else f"-0,0 +{shown}"
    return f"--- {fromfile}\n+++ {tofile}\n@@ {ranges} @@\n{body}"


def _write_op(kind: OpKind, item: ManagedItem, content: str, reason: str = "") -> Operation:
    return Operation(kind, item.path, reason or item.reason, content, item.current, item.state)


def _skip(item: ManagedItem, reason: str = "") -> Operation:
    return Operation(OpKind.SKIP, item.path, reason or item.reason, state=item.state)


@dataclass(frozen=True, slots=True)
class MergeVerdict:
    """What a plan does with a conflict item: merged `text`, or None when unresolved."""

    text: str | None
    reason: str
    theirs: str | None = field(default=None, repr=False)
    hunks: tuple[ConflictHunk, ...] = ()  # line merges: the overlapping hunks
    keys: tuple[str, ...] = ()  # TOML/JSON merges: the key paths both sides changed differently


def merge_verdict(item: ManagedItem) -> MergeVerdict:
    """The 3-way merge of a conflict item (the repository's edit with the generator's
    change) as the planner does it: TOML and JSON key by key, other files line by line. The
    reports' "merges cleanly" is this verdict, so they never disagree with the plan."""
    try:
        theirs = item.theirs
    except (TomlEditError, JsonEditError) as exc:
        return MergeVerdict(None, f"The last written base cannot be edited: {exc}.")
    if item.base is None or item.current is None or theirs is None:
        return MergeVerdict(None, item.reason, theirs)
    keyed = _KEYED_MERGES.get(item.path[item.path.rfind(".") :])
    if keyed is not None:
        merged = keyed(item.base, item.current, theirs)
        if merged.problem is not None:
            reason = f"The file cannot be merged key by key: {merged.problem}."
            return MergeVerdict(None, reason, theirs)
        if merged.text is None:
            keys = tuple(conflict.key for conflict in merged.conflicts)
            reason = (
                "Edited in the repository and changed by the generator at the same keys: "
                f"{', '.join(keys)}."
            )
            return MergeVerdict(None, reason, theirs, keys=keys)
        reason = "Edited in the repository and changed by the generator; merged key by key."
        return MergeVerdict(merged.text, reason, theirs)
    result = merge3(item.base, item.current, theirs)
    if result.text is None:
        reason = "Edited in the repository and changed by the generator in the same lines."
        return MergeVerdict(None, reason, theirs, hunks=result.conflicts)
    reason = "Edited in the repository and changed by the generator; merged cleanly."
    return MergeVerdict(result.text, reason, theirs)


class _Planner:
    def __init__(self, report: GapReport, force: bool) -> None:
        self.force = force
        self.old = report.lock.files
        self.ops: list[Operation] = []
        self.conflicts: list[PlanConflict] = []
        self.lock: dict[str, LockEntry] = {}

    def _written(self, op: Operation, base: str, item: ManagedItem) -> None:
        assert op.content is not None
        self.ops.append(op)
        self.lock[op.path] = LockEntry(text_sha256(op.content), _lock_base(item, base))

    def _keep_entry(self, path: str) -> None:
        if path in self.old:
            self.lock[path] = self.old[path]

    def add(self, item: ManagedItem) -> None:
        if item.unsafe:
            self.ops.append(_skip(item, f"{item.reason} Never written."))
            self._keep_entry(item.path)
            return
        handler = getattr(self, f"_on_{item.state.name.lower()}")
        handler(item)

    def _on_missing(self, item: ManagedItem) -> None:
        expected = item.expected
        assert expected is not None
        kind = OpKind.CREATE if item.current is None else OpKind.UPDATE
        self._written(_write_op(kind, item, expected), expected, item)

    def _on_up_to_date(self, item: ManagedItem) -> None:
        assert item.current is not None
        base = _lock_base(item, item.current)
        self.lock[item.path] = LockEntry(text_sha256(item.current), base)

    def _on_outdated(self, item: ManagedItem) -> None:
        expected = item.expected
        assert expected is not None
        self._written(_write_op(OpKind.UPDATE, item, expected), expected, item)

    def _on_modified(self, item: ManagedItem) -> None:
        self.ops.append(_skip(item))
        self._keep_entry(item.path)

    def _on_conflict(self, item: ManagedItem) -> None:
        verdict = merge_verdict(item)
        if verdict.text is None or verdict.theirs is None:
            self._unresolved(item, verdict.reason, hunks=verdict.hunks, keys=verdict.keys)
        else:
            self._merged(item, verdict.text, verdict.theirs, verdict.reason)

    def _merged(self, item: ManagedItem, text: str, theirs: str, reason: str) -> None:
        """A clean merge: written (needs approval) unless it is the file as it is."""
        if text == item.current:
            self.lock[item.path] = LockEntry(text_sha256(text), _lock_base(item, theirs))
            return
        self._written(_write_op(OpKind.MERGE, item, text, reason), theirs, item)

    def _unresolved(
        self,
        item: ManagedItem,
        reason: str,
        *,
        hunks: tuple[ConflictHunk, ...] = (),
        keys: tuple[str, ...] = (),
    ) -> None:
        self.conflicts.append(PlanConflict(item.path, reason, hunks, keys))
        self.ops.append(_skip(item, f"Unresolved conflict, not written: {reason}"))
        self._keep_entry(item.path)

    def _on_orphaned(self, item: ManagedItem) -> None:
        op = Operation(OpKind.DELETE, item.path, item.reason, None, item.current, item.state)
        self.ops.append(op)

    def _on_unmanaged(self, item: ManagedItem) -> None:
        expected = item.expected if self.force else None
        if expected is None:
            self.ops.append(_skip(item))
            return
        reason = "A file bmadweb did not write is replaced because force was requested."
        self._written(_write_op(OpKind.UPDATE, item, expected, reason), expected, item)


def _lock_base(item: ManagedItem, text: str) -> str:
    """The lock's base for `text` written at `item` (bmadweb's part of a shared JSON file)."""
    return item.generated.lock_base(text) if item.generated is not None else text


def _lock_operation(report: GapReport, lock: Lock) -> Operation | None:
    text = dumps_lock(lock)
    if text == report.lock_text:
        return None
    kind = OpKind.CREATE if report.lock_text is None else OpKind.UPDATE
    reason = "Records what bmadweb wrote, for the next analysis."
    return Operation(kind, LOCK_PATH, reason, text, report.lock_text)


def make_plan(
    report: GapReport,
    generated: Generated,
    *,
    force: bool = False,
    manifest_revision: str = "",
    root: Path | None = None,
) -> Plan:
    """The operations that bring the repository to the manifest's state. With `root`, the
    checkout the report was made on, deleted leftovers show their content in the diff."""
    planner = _Planner(report, force)
    for item in report.items:
        planner.add(item)
    lock = Lock(GENERATOR_VERSION, manifest_revision, planner.lock)
    lock_op = _lock_operation(report, lock)
    cleanup = _cleanup_operations(report, root)
    operations = [*planner.ops, *cleanup, *([lock_op] if lock_op else [])]
    notes = (*report.notes, *generated.notes)
    return Plan(tuple(operations), tuple(planner.conflicts), tuple(dict.fromkeys(notes)))


# Installation findings whose files provisioning removes (deletes: they need approval).
CLEANED_UP_FINDINGS = ("BMAD_STALE_COMMAND_WRAPPERS",)


def _cleanup_operations(report: GapReport, root: Path | None) -> list[Operation]:
    """Delete the files of fixable leftovers, e.g. 6.0 command wrappers the skills replace."""
    ops = []
    for finding in report.findings:
        if finding.code not in CLEANED_UP_FINDINGS:
            continue
        for path in finding.paths:
            if path.endswith(".md"):  # wrapper files only, never a folder
                before = _current_text(root, path)
                ops.append(Operation(OpKind.DELETE, path, finding.title, before=before))
    return ops


def _current_text(root: Path | None, path: str) -> str:
    data = rd.read_capped(root, path).data if root is not None else None
    return (rd.decode_text(data) if data is not None else None) or ""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    written: tuple[str, ...]
    deleted: tuple[str, ...]
    skipped: tuple[str, ...]


def check_plan(root: Path, plan: Plan, *, tracked_symlinks: Collection[str] = ()) -> None:
    """Raise UnsafePathError unless every change of the plan can be written or deleted
    under `root` without a link (what `apply_plan` checks before its first write)."""
    with SafeTree(root, tracked_symlinks=tracked_symlinks) as tree:
        for op in plan.changes:
            tree.check(op.path)


def apply_plan(root: Path, plan: Plan, *, tracked_symlinks: Collection[str] = ()) -> ApplyResult:
    """Write the plan's changes under `root`. Every target is checked before the first
    write, so an unsafe path (UnsafePathError) leaves the repository untouched.
    `tracked_symlinks`: the paths git records as symlinks (see `fsafe`), refused too."""
    written: list[str] = []
    deleted: list[str] = []
    with SafeTree(root, tracked_symlinks=tracked_symlinks) as tree:
        for op in plan.changes:
            tree.check(op.path)
        ordered = sorted(plan.changes, key=lambda op: op.path == LOCK_PATH)  # lock last
        for op in ordered:
            if op.kind is OpKind.DELETE:
                tree.delete(op.path)
                deleted.append(op.path)
            elif op.content is not None:
                tree.write(op.path, op.content)
                written.append(op.path)
    skipped = tuple(op.path for op in plan.operations if op.kind is OpKind.SKIP)
    return ApplyResult(tuple(written), tuple(deleted), skipped)
