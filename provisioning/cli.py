"""What `manage.py bmad` does, separate from argument parsing so it stays testable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from projects.models import Project
from projects.selectors import manifest_latest
from provisioning import git_ops
from provisioning.engine.manifest import Manifest, load_manifest, manifest_json_schema
from provisioning.engine.pipeline import plan_diff, plan_repo, plan_to_dict, report_to_dict
from provisioning.models import RunKind
from provisioning.runtime import credentials_for, git_policy

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
MAX_MANIFEST_BYTES = 256 * 1024


class CliError(Exception):
    """A usage or environment problem: exit code 2 with this message."""


@dataclass(frozen=True)
class Outcome:
    code: int
    data: dict[str, Any]
    text: str


def dispatch(
    *,
    mode: str,
    path: Path | None = None,
    project: str | None = None,
    manifest: Path | None = None,
    wait: bool = False,
    approve: bool = False,
    **_: Any,
) -> Outcome:
    if mode == "schema":
        schema = manifest_json_schema()
        return Outcome(EXIT_OK, schema, json.dumps(schema, indent=2))
    proj = _project(project) if project else None
    text = _manifest_text(manifest, proj)
    if mode == "validate":
        return _validate(text)
    parsed = load_manifest(text)
    if parsed.manifest is None:
        return _validate(text)
    if mode in ("analyze", "provision") and proj is not None and path is None:
        from provisioning import cli_runs

        return cli_runs.run_for_project(proj, RunKind(mode), wait=wait, approve=approve)
    if mode == "provision":
        raise CliError(
            "provision works on a registered project (--project SLUG); "
            "use 'plan --path DIR' to preview the changes for a checkout"
        )
    return _engine(mode, parsed.manifest, text, path, proj)


def _project(slug: str) -> Project:
    found = Project.objects.filter(slug=slug).first()
    if found is None:
        raise CliError(f"no project with slug {slug!r}")
    return found


def _manifest_text(manifest: Path | None, project: Project | None) -> str:
    if manifest is not None:
        try:
            with manifest.open("rb") as handle:
                raw = handle.read(MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            raise CliError(f"cannot read {manifest}: {exc.strerror}") from None
        if len(raw) > MAX_MANIFEST_BYTES:
            raise CliError(f"{manifest} is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CliError(f"{manifest} is not UTF-8 text") from None
    if project is not None:
        revision = manifest_latest(project)
        if revision is None:
            raise CliError(f"project {project.slug!r} has no manifest yet")
        return revision.yaml_text
    raise CliError("give --manifest FILE, or --project SLUG to use the project's manifest")


def _validate(text: str) -> Outcome:
    result = load_manifest(text)
    errors = [
        {"line": e.line, "column": e.column, "path": e.path, "message": e.message}
        for e in result.errors
    ]
    if result.ok:
        return Outcome(EXIT_OK, {"valid": True, "errors": []}, "Manifest is valid.")
    lines = [f"Manifest is invalid ({len(errors)} errors):"]
    lines += [
        f"  line {e['line']}, column {e['column']}: {e['path'] or '(document)'}: {e['message']}"
        for e in errors
    ]
    return Outcome(EXIT_DRIFT, {"valid": False, "errors": errors}, "\n".join(lines))


def _engine(
    mode: str, manifest: Manifest, text: str, path: Path | None, project: Project | None
) -> Outcome:
    from provisioning.engine.manifest import sha256

    if path is not None:
        if not path.is_dir():
            raise CliError(f"{path} is not a directory")
        return _engine_on(mode, path.resolve(), manifest, sha256(text))
    assert project is not None
    policy = git_policy()
    with git_ops.temp_workdir(policy.temp_base) as tmp:
        try:
            cloned = git_ops.clone(
                project.repo_url,
                tmp / "repo",
                branch=project.default_branch,
                policy=policy,
                credentials=credentials_for(project),
            )
        except git_ops.GitOpsError as exc:
            raise CliError(f"cloning {project.slug} failed: {exc}") from None
        return _engine_on(mode, cloned.path, manifest, sha256(text))


def _engine_on(mode: str, root: Path, manifest: Manifest, revision: str) -> Outcome:
    analysis, plan = plan_repo(root, manifest, manifest_revision=revision)
    report = report_to_dict(analysis.report)
    if mode == "analyze":
        code = EXIT_OK if report["status"] == "in_sync" else EXIT_DRIFT
        return Outcome(code, {**report, "operations": []}, render_report(report))
    planned = plan_to_dict(plan)
    data = {**report, "plan": planned, "operations": planned["operations"]}
    code = EXIT_OK if not plan.changes else EXIT_DRIFT
    if mode == "diff":
        return Outcome(code, data, plan_diff(plan) or "No changes.")
    return Outcome(code, data, render_plan(data["plan"]))


_SEVERITY_MARK = {"error": "✖", "warning": "▲", "info": "•"}


def render_report(report: dict[str, Any]) -> str:
    bmad = report["bmad"]
    lines = [
        f"BMAD {bmad['version'] or 'version unknown'} ({bmad['generation']} layout)",
        f"  modules: {', '.join(bmad['modules']) or '-'}   tools: "
        f"{', '.join(bmad['tools']) or '-'}",
        f"Status: {report['status'].replace('_', ' ')}",
        "",
        f"Installation findings ({len(report['findings'])}):",
    ]
    for f in report["findings"]:
        lines.append(f"  {_SEVERITY_MARK.get(f['severity'], '•')} [{f['code']}] {f['title']}")
        lines.append(f"      → {f['recommendation']}")
    lines += ["", "Managed items:"]
    for state, count in report["counts"].items():
        if count:
            lines.append(f"  {state}: {count}")
    for item in report["items"]:
        if item["state"] not in ("up-to-date",):
            lines.append(f"    {item['state']:<10} {item['path']}")
    return "\n".join(lines)


def render_plan(plan: dict[str, Any]) -> str:
    changes = [op for op in plan["operations"] if op["action"] != "skip"]
    lines = [
        f"Plan: {len(changes)} file operations"
        + (" (needs approval)" if plan["requires_approval"] else "")
    ]
    lines += [f"  {op['action']:<7} {op['path']}  — {op['reason']}" for op in changes]
    lines += [f"  conflict {c['path']}  — {c['reason']}" for c in plan["conflicts"]]
    return "\n".join(lines)


__all__ = ["CliError", "Outcome", "dispatch"]
