"""Safe repository paths (docs/security.md#s6, #s9).

Every path the engine reads or writes is built from fixed folders and validated ids,
then checked again with `safe_join`, which refuses anything that could leave the
repository or touch `.git`: absolute paths, `..`, backslashes, NUL and other control
characters, drive letters, non-ASCII look-alikes, Windows reserved names, and any
path that resolves (through symlinks) outside the root.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SEGMENT_RE = re.compile(r"[A-Za-z0-9._-]{1,255}")
_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?", re.I)
MAX_PATH = 1024

CUSTOM_DIR = "_bmad/custom"
AGENTS_CONFIG_PATH = f"{CUSTOM_DIR}/config.toml"
LOCK_PATH = f"{CUSTOM_DIR}/bmadweb.lock.json"
LEGACY_AGENTS_DIR = "_bmad/_config/agents"


class UnsafePathError(ValueError):
    """A path that would leave the repository, touch .git, or is not portable."""


def is_valid_id(value: object) -> bool:
    """True when `value` is an id exactly as written (no normalisation before checking)
    and not a Windows device name such as `con`, which no checkout could hold."""
    if not isinstance(value, str) or ID_RE.fullmatch(value) is None:
        return False
    return _RESERVED.fullmatch(value) is None


def _segment_problem(segment: str) -> str | None:
    if segment in ("", ".", ".."):
        return "empty, '.' or '..' path segments are not allowed"
    if not _SEGMENT_RE.fullmatch(segment):
        return "only ASCII letters, digits, '.', '_' and '-' are allowed in file names"
    if segment.casefold() == ".git":
        return "nothing may be written under .git"
    if segment.endswith("."):
        return "file names must not end with a dot"
    if _RESERVED.fullmatch(segment):
        return f"{segment!r} is a reserved device name on Windows"
    return None


@functools.lru_cache(maxsize=65536)
def relpath_problem(rel: str) -> str | None:
    """Why `rel` is not a safe repository-relative POSIX path, or None when it is."""
    if not isinstance(rel, str) or not rel:
        return "the path is empty"
    if len(rel) > MAX_PATH:
        return f"the path is longer than {MAX_PATH} characters"
    if rel.startswith("/"):
        return "absolute paths are not allowed"
    for segment in rel.split("/"):
        problem = _segment_problem(segment)
        if problem:
            return problem
    return None


def is_safe_relpath(rel: str) -> bool:
    """Lexical check only: see `safe_join` for the symlink-aware one."""
    return relpath_problem(rel) is None


def safe_join(root: Path, rel: str) -> Path:
    """`root / rel`, or UnsafePathError when rel is unsafe or resolves outside root."""
    problem = relpath_problem(rel)
    if problem:
        raise UnsafePathError(f"unsafe path {rel!r}: {problem}")
    base = root.resolve()
    target = base.joinpath(*rel.split("/"))
    if not target.resolve().is_relative_to(base):
        raise UnsafePathError(f"unsafe path {rel!r}: it resolves outside the repository")
    return target


def _checked_id(value: str) -> str:
    if not is_valid_id(value):
        raise UnsafePathError(f"invalid id {value!r}")
    return value


def skill_file(skill_dir: str, skill_id: str, name: str) -> str:
    """`<skill_dir>/<id>/<name>` for a fixed tool folder and a validated id."""
    rel = f"{skill_dir}/{_checked_id(skill_id)}/{name}"
    if not is_safe_relpath(rel):
        raise UnsafePathError(f"unsafe path {rel!r}")
    return rel


def custom_toml(skill_id: str) -> str:
    """`_bmad/custom/<skill>.toml`, the team override file of a 6.4+ skill."""
    return f"{CUSTOM_DIR}/{_checked_id(skill_id)}.toml"


def legacy_customize_yaml(module: str, agent: str) -> str:
    """`_bmad/_config/agents/<module>-<agent>.customize.yaml`, the file BMAD 6.0.x - 6.2
    reads for one agent (docs/bmad.md#gen-6-0), e.g. `bmm-pm.customize.yaml`."""
    return f"{LEGACY_AGENTS_DIR}/{_checked_id(module)}-{_checked_id(agent)}.customize.yaml"


# Claude Code and Cursor read these fixed paths (docs/bmad.md#mcp-files).
MCP_JSON_PATH = ".mcp.json"
CURSOR_MCP_PATH = ".cursor/mcp.json"
CLAUDE_AGENTS_DIR = ".claude/agents"


def claude_agent_file(agent_id: str) -> str:
    """`.claude/agents/<id>.md`, a Claude Code subagent."""
    return f"{CLAUDE_AGENTS_DIR}/{_checked_id(agent_id)}.md"
