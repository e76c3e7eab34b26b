"""The engine on a local checkout (`--path DIR`): no database, no settings, no network.

This is what a team's own CI runs (`bmadweb` and `manage.py bmad --path`); it imports
nothing of Django (an import contract holds it), so it works from a plain install of
bmadweb's package. `analyze`, `plan` and `diff` only read the checkout; `apply` writes
the plan into its working tree through the engine's link-safe writer and updates the
lock file, and never runs git: committing is the team's business.
"""

from __future__ import annotations

from pathlib import Path

from provisioning.cli.common import (
    EXIT_DRIFT,
    EXIT_OK,
    CliError,
    Outcome,
    file_lookup,
    read_manifest_file,
    render_plan,
    render_report,
    schema_outcome,
    validate_outcome,
)
from provisioning.engine.extends import resolve_manifest
from provisioning.engine.manifest import Manifest
from provisioning.engine.paths import UnsafePathError
from provisioning.engine.pipeline import (
    analyze_repo,
    audit_repo,
    plan_diff,
    plan_repo,
    plan_to_dict,
    report_to_dict,
)
from provisioning.engine.plan import Plan, apply_plan

PATH_MODES = ("validate", "analyze", "plan", "diff", "apply", "schema")


def path_dispatch(
    *, mode: str, path: Path | None, manifest: Path | None, base_dir: Path | None = None
) -> Outcome:
    """One mode on a checkout with a manifest file (or, for `analyze`, without one).
    `extends` is resolved from `<base_dir>/<name>.yaml`, by default beside the manifest."""
    if mode not in PATH_MODES:
        raise CliError(f"unknown mode {mode!r}; choose one of {', '.join(PATH_MODES)}")
    if mode == "schema":
        return schema_outcome()
    if mode == "validate":
        if manifest is None:
            raise CliError("validate needs --manifest FILE")
        return validate_outcome(read_manifest_file(manifest), file_lookup(manifest, base_dir))
    root = checkout_root(path)
    if manifest is None:
        if mode == "analyze":
            return audit_outcome(root)
        raise CliError(f"{mode} needs --manifest FILE (only analyze can audit the install alone)")
    text = read_manifest_file(manifest)
    lookup = file_lookup(manifest, base_dir)
    parsed = resolve_manifest(text, lookup)
    if parsed.manifest is None:
        return validate_outcome(text, lookup)
    return engine_outcome(mode, root, parsed.manifest, parsed.effective_sha)


def checkout_root(path: Path | None) -> Path:
    if path is None:
        raise CliError("give --path DIR, the checkout to work on")
    if not path.is_dir():
        raise CliError(f"{path} is not a directory")
    return path.resolve()


def audit_outcome(root: Path) -> Outcome:
    """`analyze` without a manifest: the install's findings alone."""
    report = report_to_dict(audit_repo(root))
    code = EXIT_OK if report["status"] == "in_sync" else EXIT_DRIFT
    text = f"{render_report(report)}\n\n{report['notes'][0]}"
    return Outcome(code, {**report, "operations": []}, text)


def engine_outcome(mode: str, root: Path, manifest: Manifest, revision: str) -> Outcome:
    """The outcome of one engine mode on a tree: exit code, JSON data and text."""
    try:
        analysis, plan = plan_repo(root, manifest, manifest_revision=revision)
        if mode == "apply":
            return _apply_outcome(root, manifest, plan)
    except UnsafePathError as exc:
        raise CliError(f"unsafe path in the repository: {exc}") from None
    report = report_to_dict(analysis.report)
    if mode == "analyze":
        code = EXIT_OK if report["status"] == "in_sync" else EXIT_DRIFT
        return Outcome(code, {**report, "operations": []}, render_report(report))
    planned = plan_to_dict(plan)
    data = {**report, "plan": planned, "operations": planned["operations"]}
    # An unresolved conflict is drift even when nothing else is left to write.
    code = EXIT_OK if not plan.changes and not plan.conflicts else EXIT_DRIFT
    if mode == "diff":
        return Outcome(code, data, plan_diff(planned) or "No changes.")
    return Outcome(code, data, render_plan(planned))


def _apply_outcome(root: Path, manifest: Manifest, plan: Plan) -> Outcome:
    """Write the plan into the working tree (never a commit); the report is the tree's
    after writing, so the exit code says whether it is now in sync."""
    result = apply_plan(root, plan)
    report = report_to_dict(analyze_repo(root, manifest).report)
    planned = plan_to_dict(plan)
    data = {
        **report,
        "plan": planned,
        "operations": planned["operations"],
        "applied": {"written": list(result.written), "deleted": list(result.deleted)},
    }
    code = EXIT_OK if report["status"] == "in_sync" else EXIT_DRIFT
    lines = [
        render_plan(planned),
        f"Wrote {len(result.written)} files, deleted {len(result.deleted)}; nothing committed.",
        f"Status now: {report['status'].replace('_', ' ')}",
    ]
    return Outcome(code, data, "\n".join(lines))
