"""Detect which BMAD install a repository carries (docs/BMAD.md, "Generations").

`detect_install(root)` looks at evidence on disk first (folders, `customize.toml`,
`bmad-skill-manifest.yaml`, agents copied into `_bmad`), then at the version recorded in
the installer's manifest, and returns a `BmadInstall`. It reads a directory that may be
damaged or hostile, so it never raises: every problem met becomes a `Finding` in
`BmadInstall.problems`. Installer-managed file hashes are collected from
`files-manifest.csv` (6.x) or `install-manifest.yaml` (v4) and mapped to repo paths,
including the skill copies under each tool folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.engine import detect_read as rd
from provisioning.engine.types import (
    KNOWN_TOOLS,
    BmadInstall,
    Finding,
    Generation,
    Severity,
    skill_dir_for,
)

_FILES_COLUMNS = ("type", "name", "module", "path", "hash")
_SKILLS_COLUMNS = ("canonicalid", "name", "description", "module", "path")
_NOT_MODULES = frozenset({"custom", "scripts", "render", "docs"})
_COMMAND_DIRS = {"claude-code": ".claude/commands", "cursor": ".cursor/commands"}
_STYLE = {
    Generation.V4: "in-place",
    Generation.V6_ALPHA: "customize-yaml",
    Generation.V6_0: "customize-yaml",
    Generation.V6_1: "customize-yaml",
    Generation.V6_3: "none",
    Generation.V6_4: "toml",
}


@dataclass
class _Scan:
    """Problems collected while reading one repository."""

    root: Path
    problems: list[Finding] = field(default_factory=list)

    def add(
        self, code: str, title: str, explanation: str, recommendation: str, *paths: str
    ) -> None:
        self.problems.append(
            Finding(code, Severity.WARNING, title, explanation, recommendation, False, paths)
        )

    def read(self, rel: str, what: str) -> bytes | None:
        """File bytes, or None with a problem recorded (a missing file records nothing)."""
        res = rd.read_capped(self.root, rel)
        if res.symlink is not None:
            self.add(
                "BMAD_SYMLINK_NOT_FOLLOWED",
                f"The {what} is reached through a symbolic link",
                f"{res.symlink} is a symbolic link. bmadweb never follows links inside a "
                "repository, so it ignored this file.",
                f"Replace {res.symlink} with the real file.",
                rel,
            )
        elif res.problem is not None:
            self.damaged(rel, what, res.problem)
        return res.data

    def damaged(self, rel: str, what: str, why: str) -> None:
        code = "BMAD_FILES_MANIFEST_DAMAGED" if rel.endswith(".csv") else "BMAD_MANIFEST_DAMAGED"
        self.add(
            code,
            f"The {what} cannot be read",
            f"{rel} {why}. What bmadweb reports about this install may be incomplete.",
            "Re-run the BMAD installer to regenerate it, or restore it from git history.",
            rel,
        )


@dataclass
class _Facts:
    """What the installer's manifest says (each field may stay empty)."""

    version: str | None = None
    modules: list[str] = field(default_factory=list)
    ides: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- entry point


def detect_install(root: Path) -> BmadInstall:
    """Describe the BMAD install under `root`; never raises on damaged input."""
    scan = _Scan(Path(root))
    try:
        return _detect(scan)
    except (OSError, ValueError, RecursionError, MemoryError) as exc:  # last-resort guard
        scan.add(
            "BMAD_DETECTION_FAILED",
            "The BMAD install could not be read completely",
            f"Reading the repository stopped early ({exc.__class__.__name__}).",
            "Check the repository for unusual files under the BMAD folders.",
        )
        return BmadInstall(Generation.NONE, problems=tuple(scan.problems))


def _detect(scan: _Scan) -> BmadInstall:
    for name in ("_bmad", "bmad", ".bmad", ".bmad-core"):
        rd_link = rd.symlinked_part(scan.root, name)
        if rd_link is not None:
            scan.add(
                "BMAD_SYMLINK_NOT_FOLLOWED",
                f"The BMAD folder {name} is a symbolic link",
                f"{name} is a symbolic link. bmadweb never follows links inside a repository.",
                f"Replace the link {name} with a real folder.",
                name,
            )
    if rd.is_dir(scan.root, "_bmad"):
        return _detect_v6(scan, "_bmad", "_config")
    for name in ("bmad", ".bmad"):
        if rd.is_dir(scan.root, f"{name}/_cfg"):
            return _detect_v6(scan, name, "_cfg")
    if rd.is_dir(scan.root, ".bmad-core"):
        return _detect_v4(scan)
    return BmadInstall(Generation.NONE, problems=tuple(scan.problems))


# ---------------------------------------------------------------- v4


def _detect_v4(scan: _Scan) -> BmadInstall:
    rel = ".bmad-core/install-manifest.yaml"
    facts = _Facts()
    data = scan.read(rel, "v4 install manifest")
    doc = _yaml_doc(scan, rel, data, "v4 install manifest")
    if doc is not None:
        facts.version = rd.normalize_version(doc.get("version"))
        facts.ides = _names(doc.get("ides_setup"))
        facts.modules = ["core", *_names(doc.get("expansion_packs"))]
        facts.hashes = _v4_hashes(doc.get("files"))
    tools = _merge(facts.ides, _v4_tools_on_disk(scan.root))
    return BmadInstall(
        Generation.V4,
        version=facts.version,
        modules=tuple(facts.modules or ["core"]),
        tools=tools,
        bmad_dir=".bmad-core",
        customization_style=_STYLE[Generation.V4],
        managed_hashes=facts.hashes,
        problems=tuple(scan.problems),
    )


def _v4_hashes(files: object) -> dict[str, str]:
    out: dict[str, str] = {}
    if not isinstance(files, list):
        return out
    for item in files:
        if not isinstance(item, dict):
            continue
        path, digest = item.get("path"), item.get("hash")
        if (
            isinstance(path, str)
            and isinstance(digest, str)
            and rd.is_safe_relpath(path)
            and rd.is_sha256(digest, prefix_ok=True)
        ):
            out[path] = digest.strip().lower()
    return out


def _v4_tools_on_disk(root: Path) -> list[str]:
    found = []
    if rd.is_dir(root, ".claude/commands/BMad"):
        found.append("claude-code")
    if rd.is_dir(root, ".cursor/rules/bmad"):
        found.append("cursor")
    return found


# ---------------------------------------------------------------- 6.x


def _detect_v6(scan: _Scan, bmad: str, cfg: str) -> BmadInstall:
    facts = _read_manifest_yaml(scan, f"{bmad}/{cfg}/manifest.yaml")
    generation = _decide_generation(scan, bmad, cfg, facts.version)
    skills = _skill_bases(scan, f"{bmad}/{cfg}/skill-manifest.csv", bmad)
    facts.hashes = _files_manifest_hashes(scan, bmad, cfg, generation, skills)
    modules = facts.modules or _modules_on_disk(scan.root, bmad)
    tools = _merge(facts.ides, _v6_tools_on_disk(scan.root, generation))
    return BmadInstall(
        generation,
        version=facts.version,
        modules=tuple(modules),
        tools=tools,
        bmad_dir=bmad,
        customization_style=_STYLE[generation],
        managed_hashes=facts.hashes,
        problems=tuple(scan.problems),
    )


def _read_manifest_yaml(scan: _Scan, rel: str) -> _Facts:
    facts = _Facts()
    data = scan.read(rel, "BMAD manifest")
    if data is None and not rd.exists(scan.root, rel):
        scan.add(
            "BMAD_MANIFEST_MISSING",
            "The BMAD install has no manifest.yaml",
            f"{rel} is missing, so the installed version, modules and tools are unknown.",
            "Re-run the BMAD installer in this repository to regenerate its manifest.",
            rel,
        )
    doc = _yaml_doc(scan, rel, data, "BMAD manifest")
    if doc is None:
        return facts
    install = doc.get("installation")
    raw = install.get("version") if isinstance(install, dict) else doc.get("version")
    facts.version = rd.normalize_version(raw)
    if raw is not None and facts.version is None:
        scan.damaged(rel, "BMAD manifest", f"records a version that is not one: {str(raw)[:40]!r}")
    facts.modules = _names(doc.get("modules"))
    facts.ides = _names(doc.get("ides"))
    return facts


def _yaml_doc(scan: _Scan, rel: str, data: bytes | None, what: str) -> dict[str, Any] | None:
    if data is None:
        return None
    doc, why = rd.load_yaml_mapping(data)
    if why is not None:
        scan.damaged(rel, what, why)
    return doc


def _names(value: object) -> list[str]:
    """Names from a list of strings (alpha.22) or of mappings with `name` (later)."""
    if not isinstance(value, list):
        return []
    out: list[str] = []
    for item in value[:1000]:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip() and name.strip() not in out:
            out.append(name.strip()[:100])
    return out


def _merge(first: list[str], second: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*first, *second]))


def _modules_on_disk(root: Path, bmad: str) -> list[str]:
    return [
        name
        for name, is_dir in rd.list_dir(root, bmad)
        if is_dir
        and not name.startswith(("_", "."))
        and name not in _NOT_MODULES
        and rd.is_file(root, f"{bmad}/{name}/config.yaml")
    ]


# ---------------------------------------------------------------- generation


def generation_for_version(version: str | None) -> Generation | None:
    """The generation the official installer of `version` writes, None if unknown."""
    v = rd.parse_version(version)
    if v is None:
        return None
    if v.major < 6:
        return Generation.V4
    if (v.major, v.minor) == (6, 0):
        early_alpha = v.pre is not None and v.pre[0] == "a" and v.pre[1] < 17
        return Generation.V6_ALPHA if early_alpha else Generation.V6_0
    if (v.major, v.minor) in ((6, 1), (6, 2)):
        return Generation.V6_1
    if (v.major, v.minor) == (6, 3):
        return Generation.V6_3
    return Generation.V6_4


def skill_folders(root: Path, generation: Generation) -> list[str]:
    """Tool skill folders of `generation` that exist in the repo (e.g. .claude/skills)."""
    dirs = {skill_dir_for(generation, tool) for tool in KNOWN_TOOLS}
    return sorted(d for d in dirs if d is not None and rd.is_dir(root, d))


def _has_skill_file(root: Path, folders: list[str], name: str) -> bool:
    for folder in folders:
        for skill, is_dir in rd.list_dir(root, folder):
            if is_dir and skill.startswith("bmad") and rd.is_file(root, f"{folder}/{skill}/{name}"):
                return True
    return False


def _layout_generation(root: Path, bmad: str, cfg: str) -> Generation | None:
    """The generation the folders on disk show, None when they show nothing decisive."""
    if cfg == "_cfg":
        return Generation.V6_ALPHA
    v64_folders = skill_folders(root, Generation.V6_4)
    if (
        rd.is_dir(root, f"{bmad}/custom")
        or rd.is_file(root, f"{bmad}/config.toml")
        or _has_skill_file(root, v64_folders, "customize.toml")
    ):
        return Generation.V6_4
    has_skills = _has_skill_file(root, skill_folders(root, Generation.V6_3), "SKILL.md")
    agents_copied = any(
        is_dir and any(n.endswith(".md") for n, _ in rd.list_dir(root, f"{bmad}/{mod}/agents"))
        for mod, is_dir in rd.list_dir(root, bmad)
    )
    if has_skills:
        return Generation.V6_1 if agents_copied else Generation.V6_3
    if agents_copied or _command_wrappers(root):
        return Generation.V6_0
    return None


def _decide_generation(scan: _Scan, bmad: str, cfg: str, version: str | None) -> Generation:
    layout = _layout_generation(scan.root, bmad, cfg)
    by_version = generation_for_version(version)
    if layout is None:
        if by_version is None or by_version in (Generation.V4, Generation.V6_ALPHA):
            scan.add(
                "BMAD_GENERATION_UNCERTAIN",
                "The shape of this BMAD install is unclear",
                f"{bmad}/ exists but neither its folders nor a readable version show which "
                "BMAD generation wrote it; bmadweb assumes 6.0.",
                "Re-run the BMAD installer so the install is complete.",
                bmad,
            )
            return Generation.V6_0
        return by_version
    if (
        by_version is not None
        and layout != by_version
        and Generation.V6_ALPHA not in (layout, by_version)
    ):
        scan.add(
            "BMAD_LAYOUT_VERSION_MISMATCH",
            "The BMAD folders do not match the recorded version",
            f"The folders look like BMAD {layout.value} but the manifest records {version}. "
            "An update may have been interrupted or files copied by hand.",
            "Re-run the BMAD installer for the version you want, then analyse again.",
            f"{bmad}/{cfg}/manifest.yaml",
        )
    return layout


# ---------------------------------------------------------------- tools


def _command_wrappers(root: Path) -> list[str]:
    """6.0-era `bmad-*` command wrappers (flat, or nested under `bmad/`) per tool folder."""
    found: list[str] = []
    for base in _COMMAND_DIRS.values():
        for name, is_dir in rd.list_dir(root, base):
            if name.startswith("bmad-") or (name == "bmad" and is_dir):
                found.append(f"{base}/{name}")
    return found


def command_wrappers(root: Path) -> list[str]:
    """Repo paths of `bmad-*` command wrappers under .claude/commands and .cursor/commands."""
    return _command_wrappers(root)


def _v6_tools_on_disk(root: Path, generation: Generation) -> list[str]:
    found: list[str] = []
    for tool in KNOWN_TOOLS:
        folder = skill_dir_for(generation, tool)
        if folder == ".agents/skills":
            continue  # shared by many tools: the folder alone cannot say which
        if folder and any(d and n.startswith("bmad") for n, d in rd.list_dir(root, folder)):
            found.append(tool)
    for tool, base in _COMMAND_DIRS.items():
        if tool not in found and any(n.startswith("bmad") for n, _ in rd.list_dir(root, base)):
            found.append(tool)
    return found


# ---------------------------------------------------------------- managed files


def _skill_bases(scan: _Scan, rel: str, bmad: str) -> dict[str, str]:
    """skill source folder (relative to the BMAD dir) -> skill id, from skill-manifest.csv."""
    data = scan.read(rel, "skill manifest")
    if data is None:
        return {}
    table = rd.read_csv_table(data, _SKILLS_COLUMNS)
    out: dict[str, str] = {}
    for row in table.rows:
        path = row.get("path", "").strip().removeprefix(f"{bmad}/")
        base = path.rpartition("/")[0] if path.endswith(".md") else path
        skill_id = (row.get("canonicalid") or row.get("name") or "").strip()
        if skill_id and rd.is_safe_relpath(base) and rd.is_safe_relpath(skill_id):
            out[base] = skill_id
    return out


def _files_manifest_hashes(
    scan: _Scan, bmad: str, cfg: str, generation: Generation, skills: dict[str, str]
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
