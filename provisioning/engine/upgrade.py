"""A BMAD upgrade of one working tree (docs/bmad.md#upgrade), shared by the upgrade run and
`bmadweb upgrade`.

`upgrade_tree` saves the hand edits to installer-owned files, has BMAD's official
installer update the tree to the target version, then plans what bmadweb adds: the
migration of 6.0-style customizations, the manifest's files (when there is a manifest),
the hand edits offered again and saved as patches. It never starts a process itself:
the caller passes `install`, which runs the installer (the installer door,
`provisioning.installer`) for an `InstallRequest`, so this module stays plain Python.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from provisioning.engine import detect_read as rd
from provisioning.engine.detect import detect_install
from provisioning.engine.manifest import Manifest
from provisioning.engine.paths import LOCK_PATH
from provisioning.engine.pipeline import (
    Analysis,
    migration_to_dict,
    plan_cleanup,
    plan_repo,
)
from provisioning.engine.plan import Plan
from provisioning.engine.rescue import Rescue, SavedEdit, capture_edits, reoffer, with_bases
from provisioning.engine.types import BmadInstall, Generation

# The generations whose installs the official installer can update in place.
_UPGRADABLE = (Generation.V6_0, Generation.V6_1, Generation.V6_3, Generation.V6_4)
_EXACT = re.compile(r"\d{1,4}\.\d{1,4}\.\d{1,4}(?:-[0-9A-Za-z][0-9A-Za-z.]{0,30})?")


@dataclass(frozen=True, slots=True)
class InstallRequest:
    """One run of `npx bmad-method@<version> install` (what the installer door runs)."""

    directory: Path
    version: str  # exact, e.g. "6.12.0"
    modules: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    action: str | None = None  # "update" for an existing install, None for a fresh one


# Runs the installer for a request and returns its output (raises when it fails).
Installer = Callable[[InstallRequest], str]


class UpgradeRefused(ValueError):
    """The tree cannot be upgraded as asked; the message says why, plainly."""


@dataclass(frozen=True, slots=True)
class TreeChanges:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    def folders(self) -> list[dict[str, Any]]:
        """Counts per folder (`.claude/skills`, `_bmad/bmm`, …), folders sorted."""
        counts: dict[str, Counter[str]] = {}
        for what, paths in (("added", self.added), ("changed", self.changed)):
            for path in paths:
                counts.setdefault(folder_of(path), Counter())[what] += 1
        for path in self.deleted:
            counts.setdefault(folder_of(path), Counter())["deleted"] += 1
        return [
            {"folder": name, **{k: c[k] for k in ("added", "changed", "deleted")}}
            for name, c in sorted(counts.items())
        ]

    def fingerprint(self) -> str:
        """The same set of changed paths gives the same value (dates inside files aside)."""
        text = "\n".join(
            f"{tag} {p}"
            for tag, paths in (("A", self.added), ("M", self.changed), ("D", self.deleted))
            for p in paths
        )
        return hashlib.sha256(text.encode()).hexdigest()


def folder_of(path: str) -> str:
    """The folder a change is counted under: two levels for dot-folders and `_bmad`."""
    parts = path.split("/")
    if len(parts) <= 1:
        return "."
    if (parts[0].startswith(".") or parts[0] == "_bmad") and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0]


def snapshot(root: Path) -> dict[str, str]:
    """sha256 (or the link target) of every file under `root` but `.git`."""
    found: dict[str, str] = {}
    base = str(root)
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == base:
            dirnames[:] = [d for d in dirnames if d != ".git"]
        rel_dir = os.path.relpath(dirpath, base)
        for name in [
            *filenames,
            *(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))),
        ]:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            found[rel] = _digest(os.path.join(dirpath, name))
    return found


def _digest(path: str) -> str:
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            return "link:" + os.readlink(path)
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return "unreadable"


def tree_changes(before: Mapping[str, str], after: Mapping[str, str]) -> TreeChanges:
    return TreeChanges(
        added=tuple(sorted(after.keys() - before.keys())),
        changed=tuple(sorted(p for p in before.keys() & after.keys() if before[p] != after[p])),
        deleted=tuple(sorted(before.keys() - after.keys())),
    )


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What an upgrade did to the tree and what bmadweb plans on top of it."""

    from_version: str
    to_version: str
    installer_changes: TreeChanges
    analysis: Analysis
    plan: Plan  # bmadweb's operations (migration, manifest, rescued edits)
    rescue: Rescue = field(default_factory=Rescue)
    installer_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-safe, for the run record, the pull request and the command line."""
        changes = self.installer_changes
        return {
            "from": self.from_version,
            "to": self.to_version,
            "installer": {
                "folders": changes.folders(),
                "added": len(changes.added),
                "changed": len(changes.changed),
                "deleted": len(changes.deleted),
                "fingerprint": changes.fingerprint(),
            },
            "migrated": migration_to_dict(self.analysis),
            "rescued": list(self.rescue.records),
        }


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """An upgrade's summary in a few sentences (run log, commit message, command line)."""
    installer = summary["installer"]
    lines = [
        f"BMAD {summary['from']} -> {summary['to']}: the installer added {installer['added']}, "
        f"changed {installer['changed']} and deleted {installer['deleted']} files."
    ]
    lines += [
        f"  {f['folder']}: +{f['added']} ~{f['changed']} -{f['deleted']}"
        for f in installer["folders"]
    ]
    agents = summary["migrated"]["agents"]
    migrated = [a for a in agents if a["skill"]]
    if agents:
        removed = sum(1 for a in agents if a["removed"])
        moved = "".join(f"\n  {a['source']} -> {a['target']}" for a in migrated)
        lines.append(
            f"Customizations: {len(migrated)} migrated, {removed} *.customize.yaml "
            f"file(s) removed.{moved}"
        )
    rescued = summary["rescued"]
    if rescued:
        again = sum(1 for r in rescued if r["reapplied"])
        lines.append(
            f"Hand edits saved to _bmad/custom/rescued/: {len(rescued)} file(s), "
            f"{again} re-applied to the new version."
        )
    return lines


def check_target(install: BmadInstall, target: str) -> str:
    """The current version, or UpgradeRefused when `target` is not an upgrade of it."""
    if install.generation not in _UPGRADABLE or install.bmad_dir != "_bmad":
        found = "no BMAD install" if install.generation is Generation.NONE else "this layout"
        raise UpgradeRefused(
            f"The official installer updates BMAD 6 installs in _bmad/; found {found} "
            f"({install.generation.value}). Install BMAD 6.4 or later by hand first."
        )
    current, wanted = rd.parse_version(install.version), rd.parse_version(target)
    if wanted is None or not _EXACT.fullmatch(target):
        raise UpgradeRefused(f"{target!r} is not an exact BMAD version such as 6.12.0.")
    if wanted < Version("6.0.4"):
        raise UpgradeRefused("bmadweb upgrades to BMAD 6.0.4 or later.")
    if current is None:
        raise UpgradeRefused(
            "The installed BMAD version is unknown (no readable _bmad/_config/manifest.yaml)."
        )
    if wanted < current:
        raise UpgradeRefused(f"BMAD {install.version} is newer than {target}: not a downgrade.")
    return str(install.version)


def upgrade_tree(
    root: Path,
    *,
    target: str,
    install: Installer,
    scratch: Path,
    manifest: Manifest | None = None,
    manifest_revision: str = "",
) -> Upgrade:
    """Upgrade the BMAD install under `root` to `target` and plan bmadweb's part.

    `scratch` is an empty private folder for a fresh install of the current version,
    made only when installer files were edited by hand (their earlier text)."""
    found = detect_install(root)
    current = check_target(found, target)
    saved = _saved_edits(root, found, current, install, scratch)
    before = snapshot(root)
    started = time.monotonic()
    install(_request(root, found, target, action="update"))
    seconds = time.monotonic() - started
    changes = tree_changes(before, snapshot(root))
    rescue = reoffer(root, saved, from_version=current)
    if manifest is None:
        analysis, plan = plan_cleanup(root)
    else:
        analysis, plan = plan_repo(root, manifest, manifest_revision=manifest_revision)
    plan = _with_rescue(plan, rescue)
    return Upgrade(current, target, changes, analysis, plan, rescue, seconds)


def _request(root: Path, found: BmadInstall, version: str, *, action: str | None) -> InstallRequest:
    return InstallRequest(root, version, tuple(found.modules), tuple(found.tools), action)


def _saved_edits(
    root: Path, found: BmadInstall, current: str, install: Installer, scratch: Path
) -> list[SavedEdit]:
    saved = capture_edits(root, found)
    if not saved:
        return []
    pristine = scratch / "pristine"
    pristine.mkdir(parents=True, exist_ok=True)
    try:
        install(_request(pristine, found, current, action=None))
    except Exception:  # the edits are still saved, as whole files: see rescue.reoffer
        return saved
    return with_bases(saved, pristine, found.managed_hashes)


def _with_rescue(plan: Plan, rescue: Rescue) -> Plan:
    if not rescue.operations and not rescue.notes:
        return plan
    taken = {op.path for op in plan.operations}
    extra = [op for op in rescue.operations if op.path not in taken]
    lock = [op for op in plan.operations if op.path == LOCK_PATH]
    rest = [op for op in plan.operations if op not in lock]
    notes = tuple(dict.fromkeys([*plan.notes, *rescue.notes]))
    return Plan((*rest, *extra, *lock), plan.conflicts, notes)
