"""Installation findings (docs/bmad.md#item-states): what is wrong with a repo's BMAD install.

`installation_findings` compares a detected `BmadInstall` with what the bmadweb manifest
requires (version range, modules, tools, the BMAD skills and agents it targets) and looks
for the leftovers and mistakes real teams hit (docs/bmad.md#findings). Every finding has a
stable code; the codes are listed in `FINDING_CODES`. Nothing here writes or raises on
damaged input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from provisioning.engine import detect_read as rd
from provisioning.engine.detect import command_wrappers
from provisioning.engine.findings_files import edited_file_findings, personal_file_findings
from provisioning.engine.findings_targets import target_findings
from provisioning.engine.findings_tools import (
    SKILL_GENERATIONS,
    tool_findings,
    v4_install_command,
    v6_update_command,
)
from provisioning.engine.types import BmadInstall, Finding, Generation, Severity

FINDING_CODES: tuple[str, ...] = (
    "BMAD_NOT_INSTALLED",
    "BMAD_GENERATION_UNSUPPORTED",
    "BMAD_GENERATION_LEGACY",
    "BMAD_VERSION_UNKNOWN",
    "BMAD_VERSION_OUT_OF_RANGE",
    "BMAD_REQUIRED_VERSION_INVALID",
    "BMAD_MODULE_MISSING",
    "BMAD_TOOL_UNKNOWN",
    "BMAD_TOOL_NOT_INSTALLED",
    "BMAD_TOOL_FOLDER_MISSING",
    "BMAD_SKILL_RENAMED",
    "BMAD_SKILL_NOT_INSTALLED",
    "BMAD_AGENT_NOT_INSTALLED",
    "BMAD_LEGACY_V4_LEFTOVER",
    "BMAD_STALE_COMMAND_WRAPPERS",
    "BMAD_ORPHANED_CUSTOMIZE_YAML",
    "BMAD_MANAGED_FILE_EDITED",
    "BMAD_PERSONAL_FILE_COMMITTED",
    # from the repository's history (history.py; runs read it, the path CLI does not)
    "BMAD_HAND_EDIT_LOST",
    # problems met while reading (detect.py)
    "BMAD_MANIFEST_MISSING",
    "BMAD_MANIFEST_DAMAGED",
    "BMAD_FILES_MANIFEST_MISSING",
    "BMAD_FILES_MANIFEST_DAMAGED",
    "BMAD_SYMLINK_NOT_FOLLOWED",
    "BMAD_LAYOUT_VERSION_MISMATCH",
    "BMAD_GENERATION_UNCERTAIN",
    "BMAD_DETECTION_FAILED",
)

_WHY_UNSUPPORTED = {
    Generation.V4: "BMAD 4 keeps everything in .bmad-core/ and is customized by editing files "
    "in place, which every update overwrites. BMAD 6 does not migrate it: its installer sets "
    "up _bmad/ beside .bmad-core/ and leaves the v4 files alone.",
    Generation.V6_ALPHA: "This early BMAD 6 alpha predates the stable layout; its folders and "
    "customization files were renamed since.",
    Generation.V6_0: "BMAD 6.0 has no skills; agents are customized with *.customize.yaml "
    "files that later versions ignore.",
    Generation.V6_1: "BMAD 6.1-6.2 still customizes agents with *.customize.yaml files, which "
    "6.4 and later ignore.",
    Generation.V6_3: "BMAD 6.3 offers no customization at all: every change to a skill is "
    "lost on the next update.",
}
# BMAD 4's .bmad-core holds the agile agents that BMAD 6 splits into `core` and `bmm`.
_V4_MODULES = frozenset({"core", "bmm"})


def installation_findings(
    install: BmadInstall,
    *,
    root: Path,
    required_version: str | None,
    required_modules: Sequence[str],
    required_tools: Sequence[str],
    integrations: Sequence[str] = (),
    customizations: Sequence[str] = (),
    own_skills: Sequence[str] = (),
) -> list[Finding]:
    """Findings for `install` against the manifest's requirements, most important first.

    `integrations` are the workflows the manifest hooks into, `customizations` its
    customization keys and `own_skills` the ids of its leaders and specialists."""
    root = Path(root)
    if install.generation is Generation.NONE:
        return [_not_installed(), *install.problems]
    found: list[Finding] = []
    found += _generation_findings(install)
    found += _version_findings(install, required_version)
    found += _module_findings(install, required_modules)
    found += tool_findings(install, root, required_tools)
    found += target_findings(
        install,
        integrations=integrations,
        customizations=customizations,
        own_skills=own_skills,
    )
    found += _legacy_findings(install, root)
    found += edited_file_findings(install, root)
    found += personal_file_findings(install, root)
    found += install.problems
    return found


def _finding(
    code: str,
    severity: Severity,
    title: str,
    explanation: str,
    recommendation: str,
    *,
    fixable: bool = False,
    paths: Sequence[str] = (),
) -> Finding:
    return Finding(code, severity, title, explanation, recommendation, fixable, tuple(paths))


def _not_installed() -> Finding:
    return _finding(
        "BMAD_NOT_INSTALLED",
        Severity.ERROR,
        "BMAD is not installed in this repository",
        "No _bmad/, bmad/, .bmad/ or .bmad-core/ folder was found.",
        "Install BMAD with `npx bmad-method install` (6.4 or later), commit the result and "
        "analyse again.",
    )


# Generations bmadweb provisions (skills and/or *.customize.yaml), but that the next BMAD
# upgrade will leave behind. None of these findings is an error by itself: a manifest whose
# range admits the version has accepted the generation (BMAD_VERSION_OUT_OF_RANGE is the
# error when it does not).
_LEGACY_SUPPORTED = (Generation.V6_0, Generation.V6_1, Generation.V6_3)
_LEGACY_DOES = {
    Generation.V6_0: " bmadweb still provisions its agent customizations, in its "
    "*.customize.yaml format; custom skills need 6.1+.",
    Generation.V6_1: " bmadweb still provisions it: custom skills, and agent customizations "
    "in its *.customize.yaml format.",
    Generation.V6_3: " bmadweb writes the custom skills; customizations, integrations and "
    "agent registration need 6.4 or later.",
}


def _generation_findings(install: BmadInstall) -> list[Finding]:
    why = _WHY_UNSUPPORTED.get(install.generation)
    if why is None:
        return []
    found = install.version or f"generation {install.generation.value}"
    paths = [install.bmad_dir] if install.bmad_dir else []
    if install.generation in _LEGACY_SUPPORTED:
        return [
            _finding(
                "BMAD_GENERATION_LEGACY",
                Severity.WARNING,
                f"BMAD {found} is a layout that 6.4 and later replace",
                why + _LEGACY_DOES[install.generation],
                "Plan an upgrade to BMAD 6.4 or later (`npx bmad-method@latest install "
                "--action update`); bmadweb then writes your customizations to "
                "_bmad/custom/<skill>.toml.",
                paths=paths,
            )
        ]
    if install.generation is Generation.V4:
        tools = ",".join(install.tools) or "claude-code"
        advice = (
            "To move to BMAD 6: run `npx bmad-method@latest install --modules bmm --tools "
            f"{tools}` in the repository, carry what you changed in .bmad-core/ over to the "
            "bmadweb manifest, then delete .bmad-core/, .claude/commands/BMad/ and "
            ".cursor/rules/bmad/. To stay on BMAD 4 (bmadweb then only reports), repair it "
            f"with `{v4_install_command(install, install.tools)}` and choose to reinstall."
        )
    else:
        tools = ",".join(install.tools) or "claude-code"
        advice = (
            "BMAD's own advice for these early alphas is a fresh install: keep what you "
            f"customized, delete {install.bmad_dir or 'the bmad folder'}/, run `npx "
            f"bmad-method@latest install --modules bmm --tools {tools}`, then carry the "
            "customizations into the bmadweb manifest."
        )
    return [
        _finding(
            "BMAD_GENERATION_UNSUPPORTED",
            Severity.WARNING,
            f"BMAD {found} is a layout bmadweb cannot provision",
            why + " bmadweb writes nothing for it.",
            advice,
            paths=paths,
        )
    ]


def _specifier(required: str) -> SpecifierSet | None:
    text = required.strip()
    if rd.parse_version(text) is not None:
        text = f"=={text}"
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def _version_findings(install: BmadInstall, required: str | None) -> list[Finding]:
    if install.version is None:
        return [
            _finding(
                "BMAD_VERSION_UNKNOWN",
                Severity.WARNING if required else Severity.INFO,
                "The installed BMAD version is unknown",
                "The installer's manifest is missing or unreadable, so bmadweb cannot check "
                "the version against the required range.",
                "Re-run the BMAD installer so it records its version.",
            )
        ]
    if not required or not required.strip():
        return []
    spec = _specifier(required)
    if spec is None:
        return [
            _finding(
                "BMAD_REQUIRED_VERSION_INVALID",
                Severity.ERROR,
                "The required BMAD version range is not valid",
                f"{required[:80]!r} is not a PEP 440 version range such as '>=6.4,<7'.",
                "Fix bmad_version in the bmadweb manifest.",
            )
        ]
    version = rd.parse_version(install.version)
    try:
        in_range = version is not None and spec.contains(version, prereleases=True)
    except ValueError:  # a number too long to compare (the schema refuses those)
        in_range = False
    if in_range:
        return []
    return [
        _finding(
            "BMAD_VERSION_OUT_OF_RANGE",
            Severity.ERROR,
            f"BMAD {install.version} is outside the required range {spec}",
            f"The manifest requires BMAD {spec}; this repository has {install.version}.",
            "Run the official installer for a version in range "
            "(`npx bmad-method@<version> install`), commit, and analyse again.",
        )
    ]


def _module_findings(install: BmadInstall, required: Sequence[str]) -> list[Finding]:
    have = set(install.modules) | (_V4_MODULES if install.generation is Generation.V4 else set())
    missing = [m for m in required if m not in have]
    wanted = list(dict.fromkeys([*install.modules, *missing]))
    return [_module_missing(install, m, wanted) for m in missing]


def _module_missing(install: BmadInstall, module: str, wanted: list[str]) -> Finding:
    if install.generation is Generation.V4:
        explanation = (
            f"The manifest requires module '{module}', which BMAD 4 does not have: its "
            ".bmad-core/ covers core and bmm, and its add-ons are expansion packs."
        )
        advice = (
            f"Move to BMAD 6 for '{module}' (`npx bmad-method@latest install --modules "
            f"bmm,{module}`), or drop it from the manifest. A v4 expansion pack is added "
            "with `--expansion-packs <pack>`."
        )
    else:
        explanation = (
            f"The manifest requires module '{module}' but the BMAD install does not list it."
        )
        advice = (
            "Re-run the installer with every module the project uses: "
            f"`{v6_update_command(install, 'modules', wanted)}`."
        )
    return _finding(
        "BMAD_MODULE_MISSING",
        Severity.ERROR,
        f"BMAD module '{module}' is not installed",
        explanation,
        advice,
    )


# ---------------------------------------------------------------- leftovers


def _legacy_findings(install: BmadInstall, root: Path) -> list[Finding]:
    found: list[Finding] = []
    if install.generation is not Generation.V4:
        found += _v4_leftover(root)
    if install.generation in SKILL_GENERATIONS:
        wrappers = command_wrappers(root)
        if wrappers:
            found.append(_stale_wrappers(wrappers))
    if install.generation in (Generation.V6_3, Generation.V6_4):
        found += _orphaned_customize_yaml(root, install.bmad_dir or "_bmad")
    return found


def _v4_leftover(root: Path) -> list[Finding]:
    dirs = [n for n, d in rd.list_dir(root, ".") if d and n.startswith(".bmad-")]
    if ".bmad-core" not in dirs:
        return []
    paths = dirs + [
        p for p in (".claude/commands/BMad", ".cursor/rules/bmad") if rd.exists(root, p)
    ]
    return [
        _finding(
            "BMAD_LEGACY_V4_LEFTOVER",
            Severity.WARNING,
            "A BMAD 4 install is still present beside BMAD 6",
            "The .bmad-core/ folder (and its commands and rules) of BMAD 4 was left behind. "
            "Assistants may still offer the old v4 agents next to the new skills.",
            "Move anything you still need into BMAD 6 customization, then delete the v4 "
            "folders listed.",
            fixable=False,
            paths=paths,
        )
    ]


def _stale_wrappers(paths: list[str]) -> Finding:
    return _finding(
        "BMAD_STALE_COMMAND_WRAPPERS",
        Severity.WARNING,
        "Old BMAD 6.0 slash commands are still present",
        "Since 6.1 BMAD installs native skills, but these bmad-* command wrappers from 6.0 "
        "remain. They point at agent and workflow files that no longer exist, and duplicate "
        "the skills in the assistant's menu.",
        "Delete the listed command files; the skills replace them.",
        fixable=True,
        paths=paths,
    )


def _orphaned_customize_yaml(root: Path, bmad: str) -> list[Finding]:
    folder = f"{bmad}/_config/agents"
    paths = [
        f"{folder}/{n}"
        for n, d in rd.list_dir(root, folder)
        if not d and n.endswith(".customize.yaml")
    ]
    if not paths:
        return []
    used = [p for p in paths if _carries_customization(root, p)]
    detail = f" {len(used)} of them carry real customizations." if used else ""
    return [
        _finding(
            "BMAD_ORPHANED_CUSTOMIZE_YAML",
            Severity.WARNING if not used else Severity.ERROR,
            "Agent customizations in *.customize.yaml no longer apply",
            "These files customized agents in BMAD 6.0-6.2. Since 6.4 skills read TOML "
            "overrides only, so the installer ignores them and the agents run without "
            f"them.{detail}",
            "Move each customization to _bmad/custom/<skill>.toml (for example "
            "bmm-pm.customize.yaml to _bmad/custom/bmad-agent-pm.toml), then delete the YAML file.",
            fixable=False,
            paths=used + [p for p in paths if p not in used],
        )
    ]


def _carries_customization(root: Path, rel: str) -> bool:
    """True when the YAML holds at least one non-empty value (the template holds none)."""
    data = rd.read_capped(root, rel, cap=256 * 1024).data
    return data is not None and rd.yaml_carries_values(data)
