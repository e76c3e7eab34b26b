"""A plan that also carries the migration of 6.0-style customizations (`migrate.py`).

The migration and the manifest can both write `_bmad/custom/<skill>.toml`. To keep one
operation per file, the gap state of such a file is decided on the migrated text (as if
the migration had been written first), and the resulting operation's diff is then shown
against the file as it is in the repository. Files only the migration touches get
operations of their own; the YAML files it replaces are deleted (which needs approval).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from provisioning.engine.gap import GapReport, classify
from provisioning.engine.generator import Generated
from provisioning.engine.migrate import Migration
from provisioning.engine.paths import LOCK_PATH
from provisioning.engine.plan import Operation, OpKind, Plan
from provisioning.engine.tomledit import BlockEdit
from provisioning.engine.types import Finding

MIGRATED_FINDING = "BMAD_ORPHANED_CUSTOMIZE_YAML"
_WHY_WRITE = "Customizations in the BMAD 6.0-6.3 format, moved to the 6.4+ override."
_WHY_DELETE = "BMAD 6.4+ ignores this file; its customizations moved to _bmad/custom/."
_WHY_DELETE_EMPTY = "BMAD 6.4+ ignores this file, and it carries no customization."


def manifest_owned_keys(generated: Generated) -> dict[str, set[str]]:
    """Per skill id, the `_bmad/custom/<skill>.toml` keys the manifest sets."""
    owned: dict[str, set[str]] = {}
    for gf in generated.files:
        if isinstance(gf.edit, BlockEdit) and gf.path.startswith("_bmad/custom/"):
            skill = gf.path.rsplit("/", 1)[-1].removesuffix(".toml")
            owned.setdefault(skill, set()).update(gf.edit.values)
    return owned


def with_migration(report: GapReport, migration: Migration) -> GapReport:
    """`report` with the managed files the migration writes judged on their migrated text."""
    if not migration.writes:
        return report
    items = []
    for item in report.items:
        written = migration.writes.get(item.path)
        if written is None or item.generated is None or item.unsafe:
            items.append(item)
        else:
            items.append(classify(item.generated, written[1], item.base))
    return dataclasses.replace(report, items=tuple(items))


def mark_fixable(findings: tuple[Finding, ...], migration: Migration) -> tuple[Finding, ...]:
    """The orphaned-YAML finding is fixable when the migration removes every file it names."""
    out = []
    for finding in findings:
        covered = set(finding.paths) <= set(migration.deletes)
        if finding.code == MIGRATED_FINDING and finding.paths and covered:
            finding = dataclasses.replace(
                finding,
                fixable=True,
                recommendation=finding.recommendation
                + " A bmadweb plan does this for you: review and approve it.",
            )
        out.append(finding)
    return tuple(out)


def add_migration(plan: Plan, migration: Migration) -> Plan:
    """`plan` (made on the migrated texts) plus the migration's own operations."""
    if migration.empty:
        return plan
    ops = list(plan.operations)
    at = {op.path: i for i, op in enumerate(ops)}
    for path, (before, after) in sorted(migration.writes.items()):
        index = at.get(path)
        if index is None:
            ops.append(_write(path, before, after, _WHY_WRITE))
        else:
            ops[index] = _combined(ops[index], before, after)
    emptied = {a.source for a in migration.agents if a.skill is None and not a.dropped}
    for path, text in sorted(migration.deletes.items()):
        if path not in at:
            why = _WHY_DELETE_EMPTY if path in emptied else _WHY_DELETE
            ops.append(Operation(OpKind.DELETE, path, why, before=text))
    lock = [op for op in ops if op.path == LOCK_PATH]
    ordered = [op for op in ops if op.path != LOCK_PATH] + lock
    notes = tuple(dict.fromkeys([*plan.notes, *migration.notes]))
    return Plan(tuple(ordered), plan.conflicts, notes)


def _write(path: str, before: str | None, after: str, reason: str) -> Operation:
    kind = OpKind.CREATE if before is None else OpKind.UPDATE
    return Operation(kind, path, reason, after, before)


def _combined(op: Operation, before: str | None, migrated: str) -> Operation:
    """The manifest's operation on a file the migration also writes, diffed against the
    file as it is now; a skipped file still receives the migrated text."""
    if op.content is None:  # skipped (edited by the team, unresolved conflict): migrate only
        return _write(op.path, before, migrated, f"{_WHY_WRITE} {op.reason}")
    kind = OpKind.CREATE if before is None else op.kind
    reason = f"{_WHY_WRITE} {op.reason}"
    return dataclasses.replace(op, kind=kind, reason=reason, before=before)


def migration_dict(migration: Migration) -> Mapping[str, object]:
    """JSON-safe summary for plan records."""
    return {"agents": migration.summary(), "notes": list(migration.notes)}
