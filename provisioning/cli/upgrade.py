"""`bmadweb upgrade --path DIR --to VERSION [--manifest FILE]`: a BMAD upgrade of a working
tree, without Django, a database or git (docs/ci.md#upgrade).

BMAD's official installer (started by the installer door, in its sandbox) updates the
tree to VERSION; then the plan an upgrade run would commit is written into the working
tree: 6.0-style customizations migrated, stale leftovers removed, hand edits to
installer files saved and offered again, and with a manifest the manifest's files.
Nothing is committed: review with `git status` and `git diff`, then commit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provisioning.cli.common import (
    EXIT_DRIFT,
    EXIT_OK,
    CliError,
    Outcome,
    read_manifest_file,
    render_plan,
    validate_outcome,
)
from provisioning.cli.paths import checkout_root
from provisioning.engine.manifest import Manifest, load_manifest, sha256
from provisioning.engine.paths import UnsafePathError
from provisioning.engine.pipeline import analyze_repo, audit_repo, plan_to_dict, report_to_dict
from provisioning.engine.plan import apply_plan
from provisioning.engine.upgrade import (
    InstallRequest,
    Upgrade,
    UpgradeRefused,
    summary_lines,
    upgrade_tree,
)
from provisioning.installer import InstallerError, InstallerPolicy, check_node, run_installer

DEFAULT_TIMEOUT_S = 600.0


def installer_policy(environ: Mapping[str, str], timeout_s: float) -> InstallerPolicy:
    """The same settings the server reads, from the environment."""
    return InstallerPolicy(
        timeout_s=timeout_s,
        registry=environ.get("BMADWEB_NPM_REGISTRY", ""),
        npx=environ.get("BMADWEB_NPX") or "npx",
        node=environ.get("BMADWEB_NODE") or "node",
    )


class _Installer:
    def __init__(self, work: Path, policy: InstallerPolicy) -> None:
        self.work = work
        self.policy = policy
        self.runs = 0

    def __call__(self, request: InstallRequest) -> str:
        self.runs += 1
        sandbox = self.work / f"installer-{self.runs}"
        sandbox.mkdir(mode=0o700)
        try:
            return run_installer(request, sandbox=sandbox, policy=self.policy).output
        except InstallerError as exc:
            raise CliError(str(exc)) from None


def upgrade_outcome(
    *, path: Path | None, target: str | None, manifest: Path | None, timeout_s: float | None = None
) -> Outcome:
    if not target:
        raise CliError("upgrade needs --to VERSION, the exact BMAD version (e.g. 6.12.0)")
    root = checkout_root(path)
    parsed: Manifest | None = None
    revision = ""
    if manifest is not None:
        text = read_manifest_file(manifest)
        loaded = load_manifest(text)
        if loaded.manifest is None:
            return validate_outcome(text)
        parsed, revision = loaded.manifest, sha256(text)
    policy = installer_policy(os.environ, timeout_s or DEFAULT_TIMEOUT_S)
    with tempfile.TemporaryDirectory(prefix="bmadweb-upgrade-") as work:
        try:
            check_node(Path(work) / "node-check", policy)
            upgrade = upgrade_tree(
                root,
                target=target,
                install=_Installer(Path(work), policy),
                scratch=Path(work) / "scratch",
                manifest=parsed,
                manifest_revision=revision,
            )
            applied = apply_plan(root, upgrade.plan)
        except (InstallerError, UpgradeRefused) as exc:
            raise CliError(str(exc)) from None
        except UnsafePathError as exc:
            raise CliError(f"unsafe path in the repository: {exc}") from None
    written = {"written": list(applied.written), "deleted": list(applied.deleted)}
    return _outcome(root, upgrade, parsed, written)


def _outcome(
    root: Path, upgrade: Upgrade, manifest: Manifest | None, applied: dict[str, list[str]]
) -> Outcome:
    after = analyze_repo(root, manifest).report if manifest is not None else audit_repo(root)
    report = report_to_dict(after)
    planned = plan_to_dict(upgrade.plan)
    data: dict[str, Any] = {
        **report,
        "upgrade": upgrade.summary(),
        "plan": planned,
        "operations": planned["operations"],
        "applied": applied,
    }
    code = EXIT_OK if report["status"] == "in_sync" and not upgrade.plan.conflicts else EXIT_DRIFT
    lines = [
        *summary_lines(data["upgrade"]),
        "",
        render_plan(planned),
        *(f"note: {note}" for note in upgrade.plan.notes),
        f"Wrote {len(applied['written'])} files, deleted {len(applied['deleted'])}; nothing "
        "committed: review with git status and git diff, then commit.",
        f"Status now: {report['status'].replace('_', ' ')}",
    ]
    return Outcome(code, data, "\n".join(lines))
