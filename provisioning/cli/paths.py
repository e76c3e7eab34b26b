"""The engine on a local checkout (`--path DIR`): no database, no settings, no network.

This is what a team's own CI runs; it imports nothing of Django (an import contract holds
it), so it works from a plain checkout of bmadweb's code.
"""

from __future__ import annotations

from pathlib import Path

from provisioning.cli.common import (
    EXIT_DRIFT,
    EXIT_OK,
    CliError,
    Outcome,
    render_plan,
    render_report,
)
from provisioning.engine.manifest import Manifest, sha256
from provisioning.engine.pipeline import plan_diff, plan_repo, plan_to_dict, report_to_dict


def path_outcome(mode: str, path: Path, manifest: Manifest, manifest_text: str) -> Outcome:
    """Run `analyze`, `plan` or `diff` on the checkout at `path` (read, never written)."""
    if not path.is_dir():
        raise CliError(f"{path} is not a directory")
    return engine_outcome(mode, path.resolve(), manifest, sha256(manifest_text))


def engine_outcome(mode: str, root: Path, manifest: Manifest, revision: str) -> Outcome:
    """The outcome of one engine mode on a tree: exit code, JSON data and text."""
    analysis, plan = plan_repo(root, manifest, manifest_revision=revision)
    report = report_to_dict(analysis.report)
    if mode == "analyze":
        code = EXIT_OK if report["status"] == "in_sync" else EXIT_DRIFT
        return Outcome(code, {**report, "operations": []}, render_report(report))
    planned = plan_to_dict(plan)
    data = {**report, "plan": planned, "operations": planned["operations"]}
    # An unresolved conflict is drift even when nothing else is left to write.
    code = EXIT_OK if not plan.changes and not plan.conflicts else EXIT_DRIFT
    if mode == "diff":
        return Outcome(code, data, plan_diff(plan) or "No changes.")
    return Outcome(code, data, render_plan(data["plan"]))
