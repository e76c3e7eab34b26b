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
from provisioning.engine.gap import GapReport, ItemState, ManagedItem, analyze_generated
from provisioning.engine.generator import GENERATOR_VERSION, Generated, generate
from provisioning.engine.manifest import Manifest
from provisioning.engine.merge import merge3
from provisioning.engine.plan import OpKind, Plan, make_plan
from provisioning.engine.tomledit import TomlEditError
from provisioning.engine.types import Severity


@dataclass(frozen=True, slots=True)
class Analysis:
    report: GapReport
    generated: Generated


AUDIT_NOTE = (
    "No manifest yet: this is an install audit (the BMAD install and its findings). "
    "Managed files are compared once a manifest is saved."
)


def analyze_repo(root: Path, manifest: Manifest | None) -> Analysis:
    """Read-only gap analysis of the checkout at `root` against `manifest`.

    Without a manifest it is an install audit: the install is detected and judged on
    its own (no version, module or tool requirements), and no managed item is listed.
    """
    install = detect_install(root)
    if manifest is None:
        findings = installation_findings(
            install, root=root, required_version=None, required_modules=(), required_tools=()
        )
        audit = GapReport(install=install, findings=tuple(findings), items=(), notes=(AUDIT_NOTE,))
        return Analysis(audit, Generated(files=()))
    findings = installation_findings(
        install,
        root=root,
        required_version=manifest.project.bmad_version,
        required_modules=manifest.project.modules,
        required_tools=manifest.project.tools,
    )
    generated = generate(manifest, install)
    return Analysis(analyze_generated(root, generated, install, findings=findings), generated)


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


def merges_cleanly(item: ManagedItem) -> bool:
    """Whether a conflict item's 3-way merge (the repository's edit with the generator's
    change) succeeds without conflicting hunks, as the plan would try it."""
    if item.state is not ItemState.CONFLICT or item.base is None or item.current is None:
        return False
    try:
        theirs = item.theirs
    except TomlEditError:  # a base the TOML editor cannot edit: the plan reports a conflict
        return False
    return theirs is not None and merge3(item.base, item.current, theirs).text is not None


def sync_status(report: GapReport) -> str:
    """ "in_sync", "drift" or "conflict" for a project's status badge. An edit that
    merges cleanly with the generator's change is drift (a plan merges it), not conflict."""
    return _status(report, {i.path for i in report.items if merges_cleanly(i)})


def _status(report: GapReport, clean: set[str]) -> str:
    if any(i.state is ItemState.CONFLICT and i.path not in clean for i in report.items):
        return "conflict"
    errors = any(f.severity is Severity.ERROR for f in report.findings)
    return "in_sync" if report.in_sync and not errors else "drift"


def report_to_dict(report: GapReport) -> dict[str, Any]:
    install = report.install
    clean = {i.path for i in report.items if merges_cleanly(i)}
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
        "status": _status(report, clean),
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
                "merges_cleanly": i.path in clean,
            }
            for i in report.items
        ],
        "notes": list(report.notes),
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "requires_approval": plan.requires_approval,
        "change_count": len(plan.changes),
        "operations": [
            {
                "path": op.path,
                "action": str(op.kind),
                "reason": op.reason,
                "state": str(op.state) if op.state else None,
                "diff": op.diff,
            }
            for op in plan.operations
        ],
        "conflicts": [{"path": c.path, "reason": c.reason} for c in plan.conflicts],
        "notes": list(plan.notes),
    }


def plan_diff(plan: Plan) -> str:
    """All operations' diffs as one patch, in path order."""
    return "".join(
        op.diff
        for op in sorted(plan.operations, key=lambda o: o.path)
        if op.kind is not OpKind.SKIP
    )
