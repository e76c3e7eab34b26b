"""Value types shared by every engine module.

Frozen dataclasses only: the engine takes and returns plain values so the CLI, the
jobs and the views can all call it without Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from provisioning.engine.bmad_facts import SKILL_DIRS_64, SKILL_DIRS_PRE_64


class Generation(StrEnum):
    """The on-disk shape of a BMAD install (docs/bmad.md#generations)."""

    NONE = "none"  # no BMAD install found
    V4 = "v4"  # .bmad-core/
    V6_ALPHA = "6.0-alpha"  # bmad/ + bmad/_cfg/ or .bmad/ + _cfg/
    V6_0 = "6.0"  # _bmad/ + _bmad/_config/, agents as markdown, *.customize.yaml
    V6_1 = "6.1"  # 6.1-6.2: native skills in tool folders, still *.customize.yaml
    V6_3 = "6.3"  # skills + bmad-skill-manifest.yaml, no customization
    V6_4 = "6.4"  # 6.4+: customize.toml + _bmad/custom/<skill>.toml overrides


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


# Assistants ("tools" in the manifest) are BMAD's platform codes, and each keeps its skills
# in the folder BMAD's installer assigns it for the generation (docs/bmad.md#tool-folders).
# Since 6.4 Claude Code keeps .claude/skills while Cursor, Codex, Copilot and many others
# share .agents/skills; before 6.4 most tools had a folder of their own.
KNOWN_TOOLS: tuple[str, ...] = tuple(sorted(SKILL_DIRS_64))


def skill_dir_for(generation: Generation, tool: str) -> str | None:
    """Repo-relative folder where `tool` keeps skills for `generation`, or None.

    None means the generation has no skill folders (v4, 6.0 alpha, 6.0.x), or BMAD's
    installer of that generation cannot set the tool up; callers report that instead of
    guessing a path.
    """
    if generation is Generation.V6_4:
        return SKILL_DIRS_64.get(tool)
    if generation in (Generation.V6_1, Generation.V6_3):
        return SKILL_DIRS_PRE_64.get(tool)
    return None


@dataclass(frozen=True, slots=True)
class Finding:
    """One installation finding (docs/bmad.md#item-states)."""

    code: str  # stable, e.g. "BMAD_VERSION_OUT_OF_RANGE"
    severity: Severity
    title: str  # one short sentence
    explanation: str  # plain words: what is wrong and why it matters
    recommendation: str  # what to do about it
    fixable: bool  # whether provisioning can fix it
    paths: tuple[str, ...] = ()  # repo-relative POSIX paths concerned


@dataclass(frozen=True, slots=True)
class BmadInstall:
    """What BMAD install a repository carries, as read from disk. Never raises on damage:
    problems found while reading land in `problems` and become findings."""

    generation: Generation
    version: str | None = None  # e.g. "6.12.0", None when unknown
    modules: tuple[str, ...] = ()  # e.g. ("core", "bmm")
    # platform codes BMAD's installer set up, as its own manifest records them (`ides:`);
    # read from BMAD's files on disk only when that manifest cannot be read
    tools: tuple[str, ...] = ()
    bmad_dir: str | None = None  # "_bmad", ".bmad-core", "bmad", ".bmad"
    customization_style: str = "none"  # "in-place" | "customize-yaml" | "toml" | "none"
    # repo-relative path -> expected sha256 (full hex) of installer-managed files,
    # from files-manifest.csv (6.x) or install-manifest.yaml (v4, 16-hex prefix)
    managed_hashes: dict[str, str] = field(default_factory=dict)
    problems: tuple[Finding, ...] = ()
    # True when `tools` is BMAD's own record; False when it was read from disk or is unknown
    # (then the manifest's tools are taken at their word for where skills go)
    tools_recorded: bool = False
    # BMAD's skill ids, from skill-manifest.csv (6.1+); empty when unknown
    skills: tuple[str, ...] = ()
    # deprecated compatibility skill id -> the id it forwards to ("" when none is named),
    # from the install's own v6-shims README tables and deprecated skill-manifest rows
    shims: dict[str, str] = field(default_factory=dict)
    # (module, agent name) pairs from agent-manifest.csv (6.0 - 6.3), e.g. ("bmm", "pm")
    agents: tuple[tuple[str, str], ...] = ()
    # BMAD skill id -> "agent" or "workflow": the table its own customize.toml opens (6.4+),
    # which decides the table an override in _bmad/custom/<id>.toml must use
    skill_blocks: dict[str, str] = field(default_factory=dict)
