"""The engine's front door: detect → findings → generate → gap → plan, and the
JSON-safe dictionaries the CLI, the run records and the API share.

Every caller (CLI, RQ jobs, views, API) goes through here, so they all see the same
report for the same repository and manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provisioning.engine.detect import detect_install
from provisioning.engine.findings import installation_findings
from provisioning.engine.gap import GapReport, ItemState, analyze_generated
from provisioning.engine.generator import GENERATOR_VERSION, Generated, generate
from provisioning.engine.manifest import Manifest
from provisioning.engine.mcp_inventory import tooling_to_dict
from provisioning.engine.mcp_review import review_tooling, withhold_secrets
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
    report = analyze_generated(root, generated, install, findings=findings)
    found, tooling = review_tooling(root, manifest, report)
    report = replace(report, findings=(*report.findings, *found), tooling=tooling)
    return Analysis(report, generated)


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
    found, tooling = review_tooling(root, None)
    return GapReport(
        install=install,
        findings=(*findings, *found),
        items=(),
        notes=(AUDIT_NOTE,),
        tooling=tooling,
    )


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
    return analysis, withhold_secrets(plan)


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
        **({"tooling": tooling_to_dict(report.tooling)} if report.tooling else {}),
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
        "conflicts": [
            {"path": c.path, "reason": c.reason, "keys": list(c.keys)} for c in plan.conflicts
        ],
        "notes": list(plan.notes),
    }


def plan_diff(plan: Plan) -> str:
    """All operations' diffs as one patch, in path order."""
    return "".join(
        op.diff
        for op in sorted(plan.operations, key=lambda o: o.path)
        if op.kind is not OpKind.SKIP
    )
