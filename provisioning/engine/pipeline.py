"""The engine's front door: detect → findings → generate → gap → plan, and the
JSON-safe dictionaries the CLI, the run records and the API share.

Every caller (CLI, RQ jobs, views, API) goes through here, so they all see the same
report for the same repository and manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.engine.detect import detect_install
from provisioning.engine.findings import installation_findings
from provisioning.engine.gap import GapReport, ItemState, analyze_generated
from provisioning.engine.generator import GENERATOR_VERSION, Generated, generate
from provisioning.engine.manifest import Manifest
from provisioning.engine.plan import OpKind, Plan, make_plan
from provisioning.engine.types import Severity


@dataclass(frozen=True, slots=True)
class Analysis:
    report: GapReport
    generated: Generated


def analyze_repo(root: Path, manifest: Manifest) -> Analysis:
    """Read-only gap analysis of the checkout at `root` against `manifest`."""
    install = detect_install(root)
    findings = installation_findings(
        install,
        root=root,
        required_version=manifest.project.bmad_version,
        required_modules=manifest.project.modules,
        required_tools=manifest.project.tools,
    )
    generated = generate(manifest, install)
    return Analysis(analyze_generated(root, generated, install, findings=findings), generated)


AUDIT_NOTE = (
    "No manifest given: only the BMAD install was audited. Give a manifest to compare the "
    "repository with it."
)


def audit_repo(root: Path) -> GapReport:
    """The install alone, without a manifest: detection and installation findings (no
    version, module or tool requirements), and no managed files."""
    install = detect_install(root)
    findings = installation_findings(
        install, root=root, required_version=None, required_modules=(), required_tools=()
    )
    return GapReport(install=install, findings=tuple(findings), items=(), notes=(AUDIT_NOTE,))


def plan_repo(
    root: Path, manifest: Manifest, *, manifest_revision: str, force: bool = False
) -> tuple[Analysis, Plan]:
    analysis = analyze_repo(root, manifest)
    plan = make_plan(
        analysis.report,
        analysis.generated,
        force=force,
        manifest_revision=manifest_revision,
        root=root,
    )
    return analysis, plan


def sync_status(report: GapReport) -> str:
    """ "in_sync", "drift" or "conflict" for a project's status badge."""
    if any(item.state is ItemState.CONFLICT for item in report.items):
        return "conflict"
    errors = any(f.severity is Severity.ERROR for f in report.findings)
    return "in_sync" if report.in_sync and not errors else "drift"


def report_to_dict(report: GapReport) -> dict[str, Any]:
    install = report.install
    return {
        "bmad": {
            "generation": str(install.generation),
            "version": install.version,
            "modules": list(install.modules),
            "tools": list(install.tools),
            "bmad_dir": install.bmad_dir,
            "customization_style": install.customization_style,
        },
        "generator_version": GENERATOR_VERSION,
        "status": sync_status(report),
        "counts": report.counts(),
        "findings": [
            {
                "code": f.code,
                "severity": str(f.severity),
                "title": f.title,
                "explanation": f.explanation,
                "recommendation": f.recommendation,
                "fixable": f.fixable,
                "paths": list(f.paths),
            }
            for f in report.findings
        ],
        "items": [
            {
                "path": i.path,
                "state": str(i.state),
                "kind": i.kind,
                "reason": i.reason,
                "unsafe": i.unsafe,
            }
            for i in report.items
        ],
        "notes": list(report.notes),
    }


def plan_to_dict(plan: Plan, *, diffs: bool = True) -> dict[str, Any]:
    """The plan as JSON-safe data; each operation's diff is computed here, once (none
    without `diffs`)."""
    return {
        "requires_approval": plan.requires_approval,
        "change_count": len(plan.changes),
        "operations": [
            {
                "path": op.path,
                "action": str(op.kind),
                "reason": op.reason,
                "state": str(op.state) if op.state else None,
                "diff": op.diff if diffs else "",
            }
            for op in plan.operations
        ],
        "conflicts": [
            {"path": c.path, "reason": c.reason, "keys": list(c.keys)} for c in plan.conflicts
        ],
        "notes": list(plan.notes),
    }


def plan_record(plan: Plan) -> tuple[dict[str, Any], str]:
    """The plan as a run stores it, and its patch (`plan_diff`'s text).

    Each diff is computed once and kept once: in the patch. An operation names its part
    of the patch by position, `"diff_at": [start, end]`, instead of carrying a copy, so
    the stored plan stays small (`operation_diff` reads it back)."""
    data = plan_to_dict(plan, diffs=False)
    stored = data["operations"]
    parts: list[str] = []
    at = 0
    changed = [i for i, op in enumerate(plan.operations) if op.kind is not OpKind.SKIP]
    for index in sorted(changed, key=lambda i: plan.operations[i].path):
        diff = plan.operations[index].diff
        stored[index]["diff_at"] = [at, at + len(diff)]
        parts.append(diff)
        at += len(diff)
    for op in stored:
        del op["diff"]
    return data, "".join(parts)


def operation_diff(op: dict[str, Any], patch: str) -> str:
    """A stored operation's diff: its part of the run's patch, or (plans stored before
    the patch held the only copy) its own "diff"."""
    if "diff_at" in op:
        start, end = op["diff_at"]
        return patch[start:end]
    return str(op.get("diff", ""))


def stored_operations(plan: dict[str, Any] | None, patch: str) -> list[dict[str, Any]]:
    """A stored plan's operations as `plan_to_dict` gives them, each with its diff."""
    return [
        {**{k: v for k, v in op.items() if k != "diff_at"}, "diff": operation_diff(op, patch)}
        for op in (plan or {}).get("operations", [])
    ]


def plan_diff(plan: Plan | dict[str, Any]) -> str:
    """All operations' diffs as one patch, in path order. Given `plan_to_dict`'s data, it
    joins the diffs computed there instead of computing them again."""
    if isinstance(plan, Plan):
        ops = [(op.path, op.diff) for op in plan.operations if op.kind is not OpKind.SKIP]
    else:
        ops = [(op["path"], op["diff"]) for op in plan["operations"] if op["action"] != "skip"]
    return "".join(diff for _, diff in sorted(ops, key=lambda pair: pair[0]))
