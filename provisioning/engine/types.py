"""Value types shared by every engine module.

Frozen dataclasses only: the engine takes and returns plain values so the CLI, the
jobs and the views can all call it without Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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


# Assistants ("tools" in the manifest) and the folder each keeps its skills in, per
# generation. Since 6.4 Claude Code keeps .claude/skills while Cursor, Codex, Copilot and
# the others share .agents/skills (docs/bmad.md). Before 6.4, each tool had its own folder.
KNOWN_TOOLS: tuple[str, ...] = (
    "claude-code",
    "cursor",
    "codex",
    "github-copilot",
    "windsurf",
    "gemini",
    "cline",
    "roo",
    "opencode",
    "kiro",
)

_PRE_64_TOOL_DIRS: dict[str, str] = {
    "claude-code": ".claude/skills",
    "cursor": ".cursor/skills",
    "codex": ".codex/skills",
    "github-copilot": ".github/skills",
    "windsurf": ".windsurf/skills",
    "gemini": ".gemini/skills",
    "cline": ".cline/skills",
    "roo": ".roo/skills",
    "opencode": ".opencode/skills",
    "kiro": ".kiro/skills",
}


def skill_dir_for(generation: Generation, tool: str) -> str | None:
    """Repo-relative folder where `tool` keeps skills for `generation`, or None.

    None means the generation has no skill folders (v4, 6.0 alpha, 6.0.x) or the tool
    is unknown; callers report that instead of guessing a path.
    """
    if tool not in _PRE_64_TOOL_DIRS:
        return None
    if generation is Generation.V6_4:
        return ".claude/skills" if tool == "claude-code" else ".agents/skills"
    if generation in (Generation.V6_1, Generation.V6_3):
        return _PRE_64_TOOL_DIRS[tool]
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
    tools: tuple[str, ...] = ()  # assistants with output in the repo, e.g. ("claude-code",)
    bmad_dir: str | None = None  # "_bmad", ".bmad-core", "bmad", ".bmad"
    customization_style: str = "none"  # "in-place" | "customize-yaml" | "toml" | "none"
    # repo-relative path -> expected sha256 (full hex) of installer-managed files,
    # from files-manifest.csv (6.x) or install-manifest.yaml (v4, 16-hex prefix)
    managed_hashes: dict[str, str] = field(default_factory=dict)
    problems: tuple[Finding, ...] = ()
