"""Turn diffs and reports into rows for templates (presentation only, no decisions)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from provisioning.engine.pipeline import operation_diff

# Order and wording of item states on the gap report.
STATE_ORDER = ["conflict", "unmanaged", "outdated", "missing", "orphaned", "modified", "up-to-date"]
STATE_HELP = {
    "missing": "Declared in the manifest but not in the repository. Provisioning creates it.",
    "up-to-date": "Exactly what the generator produces now. Nothing to do.",
    "outdated": "Untouched since bmadweb wrote it, and the generator output changed. "
    "Provisioning updates it.",
    "modified": "Edited in the repository since bmadweb wrote it; the generator output did "
    "not change. Your edit is kept.",
    "conflict": "Edited in the repository and the generator output changed. Provisioning "
    "tries a 3-way merge; what it cannot merge is reported, never committed with markers.",
    "orphaned": "Written by bmadweb earlier, no longer declared. Provisioning deletes it "
    "(after approval).",
    "unmanaged": "A file bmadweb did not write sits where a managed file should go. It is "
    "never overwritten.",
}


@dataclass(frozen=True)
class DiffLine:
    css: str
    text: str


def diff_lines(diff: str) -> list[DiffLine]:
    rows = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            css = "diff-file"
        elif line.startswith("@@"):
            css = "diff-hunk"
        elif line.startswith("+"):
            css = "diff-add"
        elif line.startswith("-"):
            css = "diff-del"
        else:
            css = "diff-ctx"
        rows.append(DiffLine(css, line))
    return rows


def plan_rows(plan: dict[str, Any] | None, patch: str = "") -> list[dict[str, Any]]:
    """Operations that change something, each with its coloured diff lines (cut from the
    run's `patch`, where the run keeps each diff)."""
    rows = []
    for op in (plan or {}).get("operations", []):
        if op["action"] == "skip":
            continue
        diff = operation_diff(op, patch)
        rows.append({**op, "diff": diff, "lines": diff_lines(diff)})
    return rows


def items_by_state(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in (report or {}).get("items", []):
        groups.setdefault(item["state"], []).append(item)
    return [
        {"state": s, "help": STATE_HELP.get(s, ""), "items": groups[s]}
        for s in STATE_ORDER
        if s in groups
    ]


@dataclass(frozen=True)
class SideBySideRow:
    left_no: int | None
    left: str
    left_css: str
    right_no: int | None
    right: str
    right_css: str


def side_by_side(old: str, new: str) -> list[SideBySideRow]:
    """Rows pairing the lines of two texts, with changed lines marked."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[SideBySideRow] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                SideBySideRow(i + 1, a[i], "", j + 1, b[j], "")
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        left, right = list(range(i1, i2)), list(range(j1, j2))
        for k in range(max(len(left), len(right))):
            li = left[k] if k < len(left) else None
            rj = right[k] if k < len(right) else None
            rows.append(
                SideBySideRow(
                    li + 1 if li is not None else None,
                    a[li] if li is not None else "",
                    "diff-del" if li is not None else "diff-empty",
                    rj + 1 if rj is not None else None,
                    b[rj] if rj is not None else "",
                    "diff-add" if rj is not None else "diff-empty",
                )
            )
    return rows
