"""Detect which BMAD install a repository carries (docs/bmad.md#generations).

`detect_install(root)` looks at evidence on disk first (folders, `customize.toml`,
`bmad-skill-manifest.yaml`, agents copied into `_bmad`), then at the version recorded in
the installer's manifest, and returns a `BmadInstall`. The tools are the ones BMAD's own
manifest records (`ides:`, v4 `ides_setup:`); folders on disk stand in only when that
manifest cannot be read, and then only BMAD's own skills count, never bmadweb's. It reads
a directory that may be damaged or hostile, so it never raises: every problem met becomes
a `Finding` in `BmadInstall.problems`. Installer-managed file hashes are collected from
`files-manifest.csv` (6.x) or `install-manifest.yaml` (v4) and mapped to repo paths,
including the skill copies under each tool folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.engine import detect_read as rd
from provisioning.engine.bmad_facts import V4_IDE_TO_CODE
from provisioning.engine.detect_managed import files_manifest_hashes, skill_folders
from provisioning.engine.detect_roster import read_roster
from provisioning.engine.detect_scan import Scan
from provisioning.engine.paths import LOCK_PATH
from provisioning.engine.types import (
    KNOWN_TOOLS,
    BmadInstall,
    Generation,
    skill_dir_for,
)

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
class _Facts:
    """What the installer's manifest says (each field may stay empty)."""

    version: str | None = None
    modules: list[str] = field(default_factory=list)
    ides: list[str] = field(default_factory=list)
    ides_recorded: bool = False  # the manifest holds a list of tools (possibly empty)
    hashes: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- entry point


def detect_install(root: Path) -> BmadInstall:
    """Describe the BMAD install under `root`; never raises on damaged input."""
    scan = Scan(Path(root))
    try:
        return _detect(scan)
    except Exception as exc:  # last resort: damaged input must never break an analysis
        scan.add(
            "BMAD_DETECTION_FAILED",
            "The BMAD install could not be read completely",
            f"Reading the repository stopped early ({exc.__class__.__name__}).",
            "Check the repository for unusual files under the BMAD folders.",
        )
        return BmadInstall(Generation.NONE, problems=tuple(scan.problems))


def _detect(scan: Scan) -> BmadInstall:
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


def _detect_v4(scan: Scan) -> BmadInstall:
    rel = ".bmad-core/install-manifest.yaml"
    facts = _Facts()
    data = scan.read(rel, "v4 install manifest")
    doc = _yaml_doc(scan, rel, data, "v4 install manifest")
    if doc is not None:
        facts.version = rd.normalize_version(doc.get("version"))
        facts.ides = [V4_IDE_TO_CODE.get(n, n) for n in _names(doc.get("ides_setup"))]
        facts.ides_recorded = _is_list_or_empty(doc, "ides_setup")
        facts.modules = ["core", *_names(doc.get("expansion_packs"))]
        facts.hashes = _v4_hashes(doc.get("files"))
    tools = (
        tuple(dict.fromkeys(facts.ides)) if facts.ides_recorded else _v4_tools_on_disk(scan.root)
    )
    return BmadInstall(
        Generation.V4,
        version=facts.version,
        modules=tuple(facts.modules or ["core"]),
        tools=tools,
        bmad_dir=".bmad-core",
        customization_style=_STYLE[Generation.V4],
        managed_hashes=facts.hashes,
        problems=tuple(scan.problems),
        tools_recorded=facts.ides_recorded,
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


def _v4_tools_on_disk(root: Path) -> tuple[str, ...]:
    found: list[str] = []
    if rd.is_dir(root, ".claude/commands/BMad"):
        found.append("claude-code")
    if rd.is_dir(root, ".cursor/rules/bmad"):
        found.append("cursor")
    return tuple(found)


# ---------------------------------------------------------------- 6.x


def _detect_v6(scan: Scan, bmad: str, cfg: str) -> BmadInstall:
    facts = _read_manifest_yaml(scan, f"{bmad}/{cfg}/manifest.yaml")
    generation = _decide_generation(scan, bmad, cfg, facts.version)
    roster = read_roster(scan, bmad, cfg)
    facts.hashes = files_manifest_hashes(scan, bmad, cfg, generation, roster.bases)
    modules = facts.modules or _modules_on_disk(scan.root, bmad)
    if facts.ides_recorded:
        tools = tuple(dict.fromkeys(facts.ides))
    else:
        tools = _v6_tools_on_disk(scan.root, generation, roster.skills)
    return BmadInstall(
        generation,
        version=facts.version,
        modules=tuple(modules),
        tools=tools,
        bmad_dir=bmad,
        customization_style=_STYLE[generation],
        managed_hashes=facts.hashes,
        problems=tuple(scan.problems),
        tools_recorded=facts.ides_recorded,
        skills=roster.skills,
        shims=roster.shims,
        agents=roster.agents,
        skill_blocks=_skill_blocks(scan, generation, roster.skills),
    )


_BLOCK_LINE = re.compile(r"^\[(agent|workflow)\]\s*(?:#.*)?$", re.MULTILINE)


def _skill_blocks(scan: Scan, generation: Generation, skills: tuple[str, ...]) -> dict[str, str]:
    """Which table ("agent" or "workflow") each BMAD skill's own customize.toml opens,
    from the first tool folder that holds it (6.4+; BMAD's skills only, never ours)."""
    if generation is not Generation.V6_4:
        return {}
    folders = skill_folders(scan.root, generation)
    blocks: dict[str, str] = {}
    for skill in skills:
        for folder in folders:
            rel = f"{folder}/{skill}/customize.toml"
            if not rd.is_file(scan.root, rel):
                continue
            data = scan.read(rel, "skill customization")
            found = _BLOCK_LINE.search(data.decode("utf-8", "replace")) if data else None
            if found:
                blocks[skill] = found.group(1)
            break
    return blocks


def _read_manifest_yaml(scan: Scan, rel: str) -> _Facts:
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
    facts.ides_recorded = _is_list_or_empty(doc, "ides")
    return facts


def _yaml_doc(scan: Scan, rel: str, data: bytes | None, what: str) -> dict[str, Any] | None:
    if data is None:
        return None
    doc, why = rd.load_yaml_mapping(data)
    if why is not None:
        scan.damaged(rel, what, why)
    return doc


def _is_list_or_empty(doc: dict[str, Any], key: str) -> bool:
    """The installer wrote `key` as a list, or as an empty value (no tools chosen)."""
    return key in doc and (doc[key] is None or isinstance(doc[key], list))


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


def _has_skill_file(root: Path, folders: list[str], name: str) -> bool:
    for folder in folders:
        for skill, is_dir in rd.list_dir(root, folder):
            if is_dir and skill.startswith("bmad") and rd.is_file(root, f"{folder}/{skill}/{name}"):
                return True
    return False


def _has_team_overrides(root: Path, bmad: str) -> bool:
    """`<bmad>/custom/` holding anything but bmadweb's own lock file, which bmadweb writes
    there for every generation it provisions (docs/bmad.md#lock-file)."""
    lock = LOCK_PATH.rpartition("/")[2]
    return any(name != lock for name, _ in rd.list_dir(root, f"{bmad}/custom"))


def _layout_generation(root: Path, bmad: str, cfg: str) -> Generation | None:
    """The generation the folders on disk show, None when they show nothing decisive."""
    if cfg == "_cfg":
        return Generation.V6_ALPHA
    v64_folders = skill_folders(root, Generation.V6_4)
    if (
        _has_team_overrides(root, bmad)
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


def _decide_generation(scan: Scan, bmad: str, cfg: str, version: str | None) -> Generation:
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


def _v6_tools_on_disk(
    root: Path, generation: Generation, skills: tuple[str, ...]
) -> tuple[str, ...]:
    """Tools whose folders hold BMAD's own skills (its skill ids, or `bmad*` names when the
    ids are unknown): a stand-in for the `ides:` list of an unreadable manifest."""
    ids = set(skills)

    def bmad_owned(name: str) -> bool:
        return name in ids if ids else name.startswith("bmad")

    folders = [skill_dir_for(generation, tool) for tool in KNOWN_TOOLS]
    shared = {f for f in folders if f is not None and folders.count(f) > 1}
    found: list[str] = []
    for tool, folder in zip(KNOWN_TOOLS, folders, strict=True):
        if folder is None or folder in shared:
            continue  # a folder several tools share cannot say which of them is set up
        if any(d and bmad_owned(n) for n, d in rd.list_dir(root, folder)):
            found.append(tool)
    for tool, base in _COMMAND_DIRS.items():
        if tool not in found and any(n.startswith("bmad") for n, _ in rd.list_dir(root, base)):
            found.append(tool)
    return tuple(found)
