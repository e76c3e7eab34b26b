"""Line-based 3-way merge (diff3) in pure Python.

`merge3(base, ours, theirs)` merges the repository's text (ours) and the generator's
new text (theirs) against the text bmadweb wrote last (base). A clean merge returns the
merged text; overlapping changes return the conflicting hunks instead. Conflict markers
are never put into any output.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal


@dataclass(frozen=True, slots=True)
class ConflictHunk:
    base_start: int  # 1-based line in base where the hunk starts
    base: tuple[str, ...]
    ours: tuple[str, ...]
    theirs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MergeResult:
    text: str | None  # merged text when clean, else None
    conflicts: tuple[ConflictHunk, ...] = ()

    @property
    def clean(self) -> bool:
        return self.text is not None


_Op = tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]


def _opcodes(base: list[str], side: list[str]) -> list[_Op]:
    return list(SequenceMatcher(None, base, side, autojunk=False).get_opcodes())


def _start_in_side(ops: list[_Op], p: int) -> int:
    """Side index of base position p, before anything the side inserted at p."""
    for _tag, i1, i2, j1, _j2 in ops:
        if i1 == p or i1 < p < i2:
            return j1 + (p - i1)
    return ops[-1][4] if ops else 0


def _end_in_side(ops: list[_Op], p: int) -> int:
    """Side index of base position p, after anything the side inserted at p."""
    found = 0
    for _tag, i1, i2, j1, j2 in ops:
        if i2 == p:
            found = j2
        elif i1 < p < i2:
            return j1 + (p - i1)
    return found


def _spans(ops: list[_Op]) -> list[tuple[int, int]]:
    return [(i1, i2) for tag, i1, i2, _j1, _j2 in ops if tag != "equal"]


def _regions(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Base ranges where either side changed, touching or overlapping ranges joined."""
    joined: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if joined and lo <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], hi))
        else:
            joined.append((lo, hi))
    return joined


def merge3(base: str, ours: str, theirs: str) -> MergeResult:
    """Merge `ours` and `theirs` against `base`; never returns conflict markers."""
    if ours == theirs or theirs == base:
        return MergeResult(ours)
    if ours == base:
        return MergeResult(theirs)
    b, o, t = (s.splitlines(keepends=True) for s in (base, ours, theirs))
    o_ops, t_ops = _opcodes(b, o), _opcodes(b, t)
    merged: list[str] = []
    conflicts: list[ConflictHunk] = []
    pos = 0
    for lo, hi in _regions(_spans(o_ops) + _spans(t_ops)):
        merged.extend(b[pos:lo])
        o_part = o[_start_in_side(o_ops, lo) : _end_in_side(o_ops, hi)]
        t_part = t[_start_in_side(t_ops, lo) : _end_in_side(t_ops, hi)]
        b_part = b[lo:hi]
        if o_part == t_part or t_part == b_part:
            merged.extend(o_part)
        elif o_part == b_part:
            merged.extend(t_part)
        else:
            conflicts.append(ConflictHunk(lo + 1, tuple(b_part), tuple(o_part), tuple(t_part)))
        pos = hi
    merged.extend(b[pos:])
    if conflicts:
        return MergeResult(None, tuple(conflicts))
    return MergeResult("".join(merged))
