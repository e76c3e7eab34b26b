"""Tool findings: is BMAD set up for each assistant the manifest requires (docs/bmad.md#findings)?

A tool counts as set up when BMAD's own install record lists it (`ides:` in
`_bmad/_config/manifest.yaml`, `ides_setup:` in v4's `install-manifest.yaml`), never
because files sit in its folder: bmadweb's own skills there prove nothing. The advice
names the installer command that sets the tool up, for the generation found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from provisioning.engine import detect_read as rd
from provisioning.engine.bmad_facts import V4_IDE_TO_CODE, V4_IDES
from provisioning.engine.types import (
    KNOWN_TOOLS,
    BmadInstall,
    Finding,
    Generation,
    Severity,
    skill_dir_for,
)

SKILL_GENERATIONS = (Generation.V6_1, Generation.V6_3, Generation.V6_4)
_CODE_TO_V4 = {code: name for name, code in V4_IDE_TO_CODE.items() if name != "codex-web"}


def install_record(install: BmadInstall) -> str:
    """The file in which BMAD's installer records the tools it set up."""
    if install.generation is Generation.V4:
        return ".bmad-core/install-manifest.yaml"
    cfg = "_cfg" if install.generation is Generation.V6_ALPHA else "_config"
    return f"{install.bmad_dir or '_bmad'}/{cfg}/manifest.yaml"


def v4_ide(tool: str) -> str | None:
    """BMAD 4's `--ide` name for a platform code, None when v4 cannot set the tool up."""
    name = _CODE_TO_V4.get(tool, tool)
    return name if name in V4_IDES else None


def v4_install_command(install: BmadInstall, tools: Sequence[str]) -> str:
    ides = [name for name in (v4_ide(t) for t in tools) if name] or ["claude-code"]
    return f"npx bmad-method@{install.version or '4.44.3'} install --full --ide {' '.join(ides)}"


def v6_update_command(install: BmadInstall, flag: str, values: Sequence[str]) -> str:
    """`npx bmad-method@<installed> install --action update --<flag> a,b`: the installer sets
    up exactly the modules or tools listed, so the list holds the installed ones too."""
    version = install.version or "latest"
    return f"npx bmad-method@{version} install --action update --{flag} {','.join(values)}"


def tool_findings(install: BmadInstall, root: Path, tools: Sequence[str]) -> list[Finding]:
    known = [t for t in tools if t in KNOWN_TOOLS]
    wanted = list(dict.fromkeys([*install.tools, *known]))
    found: list[Finding] = []
    for tool in tools:
        folder = skill_dir_for(install.generation, tool)
        on_disk = bool(folder) and _holds_bmad_skills(root, folder or "", install.skills)
        if tool not in KNOWN_TOOLS:
            found.append(_tool_unknown(tool))
        elif not install.tools_recorded and on_disk:
            continue  # no readable record (reported while reading): BMAD's skills are there
        elif tool not in install.tools:
            found.append(_tool_not_installed(install, tool, wanted))
        elif folder and not on_disk:
            found.append(_tool_folder_missing(install, tool, folder, wanted))
    return found


def _holds_bmad_skills(root: Path, folder: str, skills: Sequence[str]) -> bool:
    ids = set(skills)
    return any(
        is_dir
        and (name in ids if ids else name.startswith("bmad"))
        and rd.is_file(root, f"{folder}/{name}/SKILL.md")
        for name, is_dir in rd.list_dir(root, folder)
    )


def _tool_unknown(tool: str) -> Finding:
    return Finding(
        "BMAD_TOOL_UNKNOWN",
        Severity.WARNING,
        f"bmadweb does not know the tool '{tool}'",
        f"'{tool}' is not one of BMAD's platform codes, so bmadweb cannot tell where its "
        "skills belong.",
        f"Use one of BMAD's platform codes in the bmadweb manifest: {', '.join(KNOWN_TOOLS)}.",
        False,
    )


def _tool_not_installed(install: BmadInstall, tool: str, wanted: list[str]) -> Finding:
    record = install_record(install)
    folder = skill_dir_for(install.generation, tool)
    where = f" and its skill folder {folder}/ is not BMAD's" if folder else ""
    explanation = (
        f"The manifest requires {tool}, but BMAD's install record ({record}) does not list "
        f"it: BMAD's installer never set it up{where}. Skills bmadweb wrote there do not "
        f"count, and bmadweb writes none for {tool} until the installer lists it."
    )
    version = install.version or f"generation {install.generation.value}"
    if install.generation is Generation.V4:
        if v4_ide(tool) is None:
            advice = (
                f"BMAD 4's installer cannot set up {tool}. Move to BMAD 6, whose installer "
                f"can: `npx bmad-method@latest install --modules bmm --tools {','.join(wanted)}`."
            )
        else:
            advice = (
                f"Re-run the v4 installer with every tool the project uses: "
                f"`{v4_install_command(install, wanted)}`, and choose to reinstall when it asks."
            )
    elif install.generation in SKILL_GENERATIONS and folder is None:
        advice = (
            f"BMAD {version} has no skill folder for {tool}; upgrade to BMAD 6.4 or later, "
            f"which has: `npx bmad-method@latest install --action update --tools "
            f"{','.join(wanted)}`."
        )
    else:
        advice = (
            "Re-run the BMAD installer with every tool the project uses: "
            f"`{v6_update_command(install, 'tools', wanted)}`, then commit the result."
        )
    return Finding(
        "BMAD_TOOL_NOT_INSTALLED",
        Severity.ERROR,
        f"BMAD is not installed for {tool}",
        explanation,
        advice,
        False,
        (record,),
    )


def _tool_folder_missing(
    install: BmadInstall, tool: str, folder: str, wanted: list[str]
) -> Finding:
    return Finding(
        "BMAD_TOOL_FOLDER_MISSING",
        Severity.ERROR,
        f"BMAD's skills for {tool} are missing from {folder}/",
        f"BMAD's install record ({install_record(install)}) lists {tool}, but {folder}/ "
        f"holds none of BMAD's skills, so {tool} users cannot call BMAD. The folder may be "
        "ignored by git or deleted by hand.",
        f"Check that .gitignore does not exclude {folder}/, or re-run the installer: "
        f"`{v6_update_command(install, 'tools', wanted)}`, then commit {folder}/.",
        False,
        (folder,),
    )
