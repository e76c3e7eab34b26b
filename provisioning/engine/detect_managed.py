"""Installer-managed files: map files-manifest.csv rows to the repo paths they describe.

Since 6.4 most rows name skill files that the installer removed from `_bmad` after copying
them into each tool folder (`.claude/skills/<id>/...`, `.agents/skills/<id>/...`); their
hashes equal those copies (docs/bmad.md#gen-6-4). Rows for files the team owns
(`custom/`, `*.user.toml`) are left out.
"""

from __future__ import annotations

from pathlib import Path

from provisioning.engine import detect_read as rd
from provisioning.engine.detect_scan import Scan
from provisioning.engine.types import KNOWN_TOOLS, Generation, skill_dir_for

_FILES_COLUMNS = ("type", "name", "module", "path", "hash")


def skill_folders(root: Path, generation: Generation) -> list[str]:
    """Tool skill folders of `generation` that exist in the repo (e.g. .claude/skills)."""
    dirs = {skill_dir_for(generation, tool) for tool in KNOWN_TOOLS}
    return sorted(d for d in dirs if d is not None and rd.is_dir(root, d))


def files_manifest_hashes(
    scan: Scan, bmad: str, cfg: str, generation: Generation, skills: dict[str, str]
) -> dict[str, str]:
    rel = f"{bmad}/{cfg}/files-manifest.csv"
    data = scan.read(rel, "files manifest")
    if data is None:
        if not rd.exists(scan.root, rel):
            scan.add(
                "BMAD_FILES_MANIFEST_MISSING",
                "The BMAD install has no files-manifest.csv",
                f"{rel} is missing, so bmadweb cannot tell which installer files were edited.",
                "Re-run the BMAD installer to regenerate it.",
                rel,
            )
        return {}
    table = rd.read_csv_table(data, _FILES_COLUMNS)
    if table.problem:
        scan.damaged(rel, "files manifest", table.problem)
        return {}
    mapper = _SkillMapper(scan.root, generation, skills)
    out: dict[str, str] = {}
    bad = table.bad_rows
    for row in table.rows:
        path, digest = row.get("path", "").strip(), row.get("hash", "").strip().lower()
        if not rd.is_safe_relpath(path) or not rd.is_sha256(digest):
            bad += 1
            continue
        if _team_or_personal(path):
            continue
        for repo_rel in mapper.repo_paths(bmad, path):
            out[repo_rel] = digest
    if bad:
        scan.damaged(rel, "files manifest", f"has {bad} row(s) that could not be read")
    return out


def _team_or_personal(path: str) -> bool:
    """Rows the team owns even though the installer lists them (custom/, *.user.toml)."""
    return path.startswith("custom/") or path.endswith(".user.toml")


class _SkillMapper:
    """Maps a files-manifest path to repo paths: the BMAD copy and the tool-folder copies."""

    def __init__(self, root: Path, generation: Generation, skills: dict[str, str]) -> None:
        self.root = root
        self.bases = skills
        self.folders = skill_folders(root, generation)
        present = {n for f in self.folders for n, d in rd.list_dir(root, f) if d}
        self.ids = present | set(skills.values())
        self.installed = {(f, n) for f in self.folders for n, d in rd.list_dir(root, f) if d}

    def skill_of(self, path: str) -> tuple[str, str] | None:
        parts = path.split("/")
        for i in range(len(parts) - 1, 0, -1):
            skill_id = self.bases.get("/".join(parts[:i]))
            if skill_id:
                return skill_id, "/".join(parts[i:])
        for i, part in enumerate(parts[:-1]):
            if part in self.ids:
                return part, "/".join(parts[i + 1 :])
        return None

    def repo_paths(self, bmad: str, path: str) -> list[str]:
        own = f"{bmad}/{path}"
        mapped = self.skill_of(path)
        if mapped is None:
            return [own]
        skill_id, inner = mapped
        out = [own] if rd.exists(self.root, own) else []
        out += [f"{f}/{skill_id}/{inner}" for f in self.folders if (f, skill_id) in self.installed]
        return out or [own]
