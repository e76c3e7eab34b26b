"""What every CLI mode shares, without Django: exit codes, errors, reading a manifest file,
validation, the schema and the text and JSON renderings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.engine.extends import BaseLookup, resolve_manifest
from provisioning.engine.manifest import manifest_json_schema

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
MAX_MANIFEST_BYTES = 256 * 1024


class CliError(Exception):
    """A usage or environment problem: exit code 2 with this message."""


@dataclass(frozen=True)
class Outcome:
    code: int
    data: dict[str, Any]
    text: str


def error_outcome(exc: CliError) -> Outcome:
    return Outcome(EXIT_ERROR, {"error": str(exc)}, f"error: {exc}")


def schema_outcome() -> Outcome:
    schema = manifest_json_schema()
    return Outcome(EXIT_OK, schema, json.dumps(schema, indent=2))


def rendered(outcome: Outcome, output_format: str) -> str:
    """What a command prints: one JSON document, or the text."""
    if output_format == "json":
        return json.dumps(outcome.data, indent=2, sort_keys=True)
    return outcome.text


def validate_outcome(text: str, lookup: BaseLookup | None = None) -> Outcome:
    result = resolve_manifest(text, lookup)
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
    if plan["conflicts"]:
        lines.append(
            f"{len(plan['conflicts'])} unresolved conflict(s) are left for the team: they are "
            "never written with markers; resolve them in the repository or change the manifest."
        )
    return "\n".join(lines)


def read_manifest_file(manifest: Path) -> str:
    """The text of a manifest file: at most MAX_MANIFEST_BYTES of UTF-8, or a CliError."""
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


def file_lookup(manifest: Path | None, base_dir: Path | None) -> BaseLookup:
    """Base manifests from files: `<base_dir>/<name>.yaml` (or `.yml`), by default in the
    manifest's own folder. Names are ids, so they cannot leave the folder."""
    folder = base_dir if base_dir is not None else (manifest.parent if manifest else Path())

    def lookup(name: str) -> str | None:
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return read_manifest_file(candidate)
        return None

    return lookup
