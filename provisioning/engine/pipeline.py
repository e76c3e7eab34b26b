"""The engine's front door: detect → findings → generate → gap → plan, and the
JSON-safe dictionaries the CLI, the run records and the API share.

Every caller (CLI, RQ jobs, views, API) goes through here, so they all see the same
report for the same repository and manifest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.engine.detect import detect_install
from provisioning.engine.findings import installation_findings
from provisioning.engine.gap import (
    GapReport,
    ItemState,
    ManagedItem,
    analyze_generated,
    read_lock,
)
from provisioning.engine.generator import GENERATOR_VERSION, Generated, generate
from provisioning.engine.manifest import Manifest
from provisioning.engine.mcp_inventory import tooling_to_dict
from provisioning.engine.mcp_review import review_tooling, withhold_secrets
from provisioning.engine.migrate import Migration, plan_migration
from provisioning.engine.migration_plan import (
    add_migration,
    manifest_owned_keys,
    mark_fixable,
    migration_dict,
    with_migration,
)
from provisioning.engine.paths import LOCK_PATH
from provisioning.engine.plan import OpKind, Plan, make_plan, merge_verdict
from provisioning.engine.types import Finding, Severity


@dataclass(frozen=True, slots=True)
class Analysis:
    report: GapReport
    generated: Generated
    # 6.0-style customizations a plan moves to 6.4+ overrides (docs/bmad.md#migration)
    migration: Migration = field(default_factory=Migration)


def analyze_repo(root: Path, manifest: Manifest | None) -> Analysis:
    """Read-only gap analysis of the checkout at `root` against `manifest`.

    Without a manifest it is an install audit (`audit_repo`): the install is detected and
    judged on its own (no version, module or tool requirements), and no managed item is
    listed.
    """
    if manifest is None:
        return Analysis(audit_repo(root), Generated(files=()))
    install = detect_install(root)
    findings = installation_findings(
        install,
        root=root,
        required_version=manifest.project.bmad_version,
        required_modules=manifest.project.modules,
        required_tools=manifest.project.tools,
        integrations=[i.workflow for i in manifest.integrations],
        customizations=list(manifest.customizations),
        own_skills=[agent.id for agent in manifest.all_agents()],
    )
    generated = generate(manifest, install)
    report = analyze_generated(root, generated, install, findings=findings)
    found, tooling = review_tooling(root, manifest, report)
    report = dataclasses.replace(report, findings=(*report.findings, *found), tooling=tooling)
    owned = manifest_owned_keys(generated)
    migration = plan_migration(root, install, managed=report.lock.files, owned=owned)
    report = dataclasses.replace(report, findings=mark_fixable(report.findings, migration))
    return Analysis(report, generated, migration)


AUDIT_NOTE = (
    "No manifest yet: this is an install audit (the BMAD install and its findings). "
    "Managed files are compared once there is a manifest."
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
        with_migration(analysis.report, analysis.migration),
        analysis.generated,
        force=force,
        manifest_revision=manifest_revision,
        root=root,
    )
    return analysis, withhold_secrets(add_migration(plan, analysis.migration))


def plan_cleanup(root: Path) -> tuple[Analysis, Plan]:
    """Without a manifest: the audit's report, and a plan that only migrates 6.0-style
    customizations and removes stale leftovers (no managed files, the lock untouched)."""
    report = audit_repo(root)
    migration = plan_migration(root, report.install, managed=read_lock(root).files)
    report = dataclasses.replace(report, findings=mark_fixable(report.findings, migration))
    plan = make_plan(report, Generated(()), root=root)
    kept = tuple(op for op in plan.operations if op.path != LOCK_PATH)
    plan = add_migration(dataclasses.replace(plan, operations=kept), migration)
    return Analysis(report, Generated(()), migration), plan


def merges_cleanly(item: ManagedItem) -> bool:
    """Whether a conflict item merges with the generator's change without conflicts, by
    the planner's own verdict (TOML key by key, other files line by line)."""
    return item.state is ItemState.CONFLICT and merge_verdict(item).text is not None


def _status(report: GapReport, clean: set[str]) -> str:
    """ "in_sync", "drift" or "conflict" for a project's status badge. An edit that
    merges cleanly with the generator's change is drift (a plan merges it), not conflict."""
    if any(i.state is ItemState.CONFLICT and i.path not in clean for i in report.items):
        return "conflict"
    errors = any(f.severity is Severity.ERROR for f in report.findings)
    return "in_sync" if report.in_sync and not errors else "drift"


def finding_to_dict(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "severity": str(f.severity),
        "title": f.title,
        "explanation": f.explanation,
        "recommendation": f.recommendation,
        "fixable": f.fixable,
        "paths": list(f.paths),
    }


def report_to_dict(report: GapReport) -> dict[str, Any]:
    install = report.install
    clean = {i.path for i in report.items if merges_cleanly(i)}
    return {
        "bmad": {
            "generation": str(install.generation),
            "version": install.version,
            "modules": list(install.modules),
            "tools": list(install.tools),
            "tools_recorded": install.tools_recorded,
            "agents": [list(agent) for agent in install.agents],
            "bmad_dir": install.bmad_dir,
            "customization_style": install.customization_style,
        },
        "generator_version": GENERATOR_VERSION,
        "status": _status(report, clean),
        "counts": report.counts(),
        "findings": [finding_to_dict(f) for f in report.findings],
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
        **({"tooling": tooling_to_dict(report.tooling)} if report.tooling else {}),
    }


def migration_to_dict(analysis: Analysis) -> dict[str, Any]:
    """What the plan migrates (docs/bmad.md#migration), JSON-safe."""
    return dict(migration_dict(analysis.migration))


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
