"""Turn diffs and reports into rows for templates (presentation only, no decisions)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from provisioning.engine.pipeline import operation_diff

# Order and wording of item states on the gap report. "merges-cleanly" is a conflict
# whose 3-way merge succeeds: shown as "modified (merges cleanly)", not as a conflict.
STATE_ORDER = [
    "conflict",
    "unmanaged",
    "outdated",
    "missing",
    "orphaned",
    "merges-cleanly",
    "modified",
    "up-to-date",
]
STATE_LABEL = {"merges-cleanly": "modified (merges cleanly)"}
STATE_HELP = {
    "merges-cleanly": "Edited in the repository, and the generator's output changed in other "
    "lines. Provisioning merges both (after approval); your edit is kept.",
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


# A file's diff longer than this many lines starts collapsed on the run page.
LONG_DIFF_LINES = 80
# Review order: what removes or merges the team's work first, new files last.
ACTION_ORDER = {"delete": 0, "merge": 1, "update": 2, "create": 3}


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
    """Operations that change something, in review order (deletes and merges first), each
    with its diff lines (cut from the run's `patch`, where the run keeps each diff), +/-
    counts, an anchor and whether it starts expanded."""
    ops = [op for op in (plan or {}).get("operations", []) if op.get("action") != "skip"]
    ops.sort(key=lambda op: (ACTION_ORDER.get(str(op.get("action")), 9), str(op.get("path"))))
    rows = []
    for number, op in enumerate(ops, start=1):
        diff = operation_diff(op, patch)
        lines = diff_lines(diff)
        added = sum(1 for line in lines if line.css == "diff-add")
        removed = sum(1 for line in lines if line.css == "diff-del")
        action = str(op.get("action"))
        rows.append(
            {
                **op,
                "diff": diff,
                "anchor": f"op-{number}",
                "lines": lines,
                "added": added,
                "removed": removed,
                "long": len(lines) > LONG_DIFF_LINES,
                "needs_review": action in ("delete", "merge"),
                "open": action in ("delete", "merge")
                or (action == "update" and len(lines) <= LONG_DIFF_LINES),
            }
        )
    return rows


def _display_state(item: dict[str, Any]) -> str:
    if item.get("state") == "conflict" and item.get("merges_cleanly"):
        return "merges-cleanly"
    return str(item.get("state", ""))


def items_by_state(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in (report or {}).get("items", []):
        groups.setdefault(_display_state(item), []).append(item)
    return [
        {
            "state": s,
            "label": STATE_LABEL.get(s, s),
            "help": STATE_HELP.get(s, ""),
            "items": groups[s],
        }
        for s in STATE_ORDER
        if s in groups
    ]


def state_counts(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """(state, label, count) of the report's items as the page groups them."""
    return [
        {"state": g["state"], "label": g["label"], "count": len(g["items"])}
        for g in items_by_state(report)
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
