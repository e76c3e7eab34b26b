"""Turn diffs and reports into rows for templates (presentation only, no decisions)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils import dateformat
from django.utils.text import Truncator
from django.utils.timezone import localtime

from projects.models import SyncStatus
from projects.templatetags.ui import words
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


# --- Dashboard rows ------------------------------------------------------------------
# The dashboard's 25 rows come as plain values with every display value made here, once
# per row, so that the template only prints them (docs/performance.md#pages).

# The project's columns and the annotations of provisioning.project_status's
# last_run_annotations that the rows show.
DASHBOARD_FIELDS = (
    "pk",
    "name",
    "slug",
    "repo_url",
    "sync_status",
    "bmad_version",
    "last_push_at",
    "last_run_id",
    "last_run_kind",
    "last_run_status",
    "last_run_created",
    "last_run_failure_reason",
    "last_pr_state",
    "last_pr_run_id",
)
# Values reverse() accepts for a slug and an id, replaced by "{slug}" and "{id}".
SLUG_PLACEHOLDER, ID_PLACEHOLDER = "bmadweb-slug-placeholder", 987654321


def url_format(name: str, **kwargs: Any) -> str:
    """The URL of route `name` as a format string ("{slug}", "{id}"): one reverse() per
    page instead of one per row. Slugs and run ids need no quoting, so the result is the
    same string reverse() gives for each row."""
    url = reverse(name, kwargs=kwargs).replace("{", "{{").replace("}", "}}")
    return url.replace(SLUG_PLACEHOLDER, "{slug}").replace(str(ID_PLACEHOLDER), "{id}")


def dashboard_rows(rows: Iterable[dict[str, Any]], *, can_retry: set[int]) -> list[dict[str, Any]]:
    """Display values of each dashboard row, as the template printed them from a project
    with its last run annotated (projects.selectors.project_list_for_dashboard)."""
    project_url = url_format("projects:project-detail", slug=SLUG_PLACEHOLDER)
    run_url = url_format("provisioning:run-detail", slug=SLUG_PLACEHOLDER, run_id=ID_PLACEHOLDER)
    labels = dict(SyncStatus.choices)
    found = []
    for row in rows:
        slug, status, run_id = row["slug"], row["sync_status"], row["last_run_id"]
        pushed = row["last_push_at"]
        shown = {
            "pk": row["pk"],
            "name": row["name"],
            "slug": slug,
            "url": project_url.format(slug=slug),
            "repo_url": Truncator(row["repo_url"]).chars(56),
            "status": status,
            "status_label": str(labels.get(status, status)),
            "error": status == SyncStatus.ERROR,
            "failure": Truncator(row["last_run_failure_reason"] or NO_FAILURE_REASON).chars(160),
            "retry": row["pk"] in can_retry,
            "bmad_version": row["bmad_version"] or "—",
            "run_id": run_id,
            "push_iso": dateformat.format(localtime(pushed), "c") if pushed else "",
            "push_ago": naturaltime(pushed) if pushed else "",
        }
        if run_id:
            pr_run = row["last_pr_run_id"]
            shown |= {
                "run_url": run_url.format(slug=slug, id=run_id),
                "run_kind": row["last_run_kind"],
                "run_status": row["last_run_status"],
                "run_status_words": words(row["last_run_status"]),
                "run_ago": naturaltime(row["last_run_created"]),
                "pr_state": row["last_pr_state"],
                "pr_url": run_url.format(slug=slug, id=pr_run) if pr_run else "",
            }
        found.append(shown)
    return found


NO_FAILURE_REASON = "The last analysis failed."
