"""BMAD's naming rules, applied to the names a manifest uses (docs/bmad.md#bmad-judges).

- Ids bmadweb may give its own skills: BMAD's installer owns every `bmad-*` name and deletes
  the ids on its removal list from tool folders on each install and update.
- Which agent file a 6.0 - 6.2 customization lands in: `<module>-<agent>.customize.yaml`,
  found from the key through the install's agent roster (agent-manifest.csv).
- What became of a skill id an install no longer has: renamed (the install's own shim
  tables say to what), kept only as a deprecated shim, or removed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from provisioning.engine.bmad_facts import REMOVED_SKILL_IDS

_REMOVED = frozenset(REMOVED_SKILL_IDS)
_AGENT_PREFIX = "bmad-agent-"


def reserved_id_problem(skill_id: str) -> str | None:
    """Why bmadweb must not give one of its own skills this id, or None when it may."""
    if skill_id in _REMOVED:
        return (
            f"`{skill_id}` is on BMAD's removal list: its installer deletes a skill folder "
            "with this name on every install and update; choose an id without the bmad- prefix"
        )
    if skill_id == "bmad" or skill_id.startswith("bmad-"):
        return (
            f"`{skill_id}` is a BMAD skill id: BMAD's installer owns the bmad- names and "
            "would overwrite or delete this skill; choose an id without the bmad- prefix"
        )
    if skill_id.startswith("bmad"):
        return (
            f"`{skill_id}` starts with bmad: BMAD's installer takes skill folders named "
            "bmad… for its own when it has no skill list to go by; choose an id that does "
            "not start with bmad"
        )
    return None


def is_removed(skill_id: str) -> bool:
    """True when BMAD's installer deletes this skill id on install and update."""
    return skill_id in _REMOVED


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, sorted(set(candidates)), n=n, cutoff=0.75)


# ---------------------------------------------------------------- 6.0 - 6.2 agent files


@dataclass(frozen=True, slots=True)
class LegacyAgent:
    """Where a 6.0 - 6.2 customization key lands: `agent` is (module, name) or None, in
    which case `candidates` lists the agents it could mean (none, or several)."""

    agent: tuple[str, str] | None
    candidates: tuple[tuple[str, str], ...] = ()

    @property
    def stem(self) -> str | None:
        """`<module>-<agent>`, the file name BMAD 6.0 - 6.2 reads, without the suffix."""
        return f"{self.agent[0]}-{self.agent[1]}" if self.agent else None


def legacy_agent(
    key: str, agents: Sequence[tuple[str, str]], modules: Sequence[str] = ()
) -> LegacyAgent:
    """The agent a customization key names, for 6.0 - 6.2's `<module>-<agent>` files.

    Keys teams use: `bmm-pm` (the file name itself), `bmad-agent-bmm-pm` (the 6.0 command
    and 6.1 skill id), `bmad-agent-pm` (the 6.2+ skill id) and `pm` (the agent's name).
    With no roster (agent-manifest.csv missing) only the forms that carry a module of
    the install are accepted.
    """
    rest = key.removeprefix(_AGENT_PREFIX)
    tiers: list[list[tuple[str, str]]] = [
        [a for a in agents if key == f"{a[0]}-{a[1]}"],
        [a for a in agents if key.startswith(_AGENT_PREFIX) and rest == f"{a[0]}-{a[1]}"],
        [a for a in agents if key.startswith(_AGENT_PREFIX) and rest == a[1]],
        [a for a in agents if key == a[1]],
    ]
    for found in tiers:
        unique = list(dict.fromkeys(found))
        if len(unique) == 1:
            return LegacyAgent(unique[0])
        if unique:
            return LegacyAgent(None, tuple(unique))
    if not agents:
        for module in modules:
            name = rest.removeprefix(f"{module}-")
            if rest.startswith(f"{module}-") and name:
                return LegacyAgent((module, name))
    return LegacyAgent(None)


def agent_list(agents: Sequence[tuple[str, str]], limit: int = 30) -> str:
    """`bmm-pm (pm), core-bmad-master (bmad-master), …` for messages."""
    shown = [f"{m}-{n}" for m, n in agents[:limit]]
    more = f" and {len(agents) - limit} more" if len(agents) > limit else ""
    return ", ".join(shown) + more


# ---------------------------------------------------------------- renamed skills


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """What an install says about a skill id a manifest targets."""

    installed: bool
    deprecated: bool = False  # a compatibility shim BMAD removes with v7
    replacement: str = ""  # the id it forwards to, per the install's own files
    removed: bool = False  # on BMAD's removal list
    suggestions: tuple[str, ...] = ()


def target_status(skill_id: str, installed: Sequence[str], shims: dict[str, str]) -> TargetStatus:
    """Look `skill_id` up in an install's skill ids and its shim tables."""
    replacement = shims.get(skill_id, "")
    if replacement == skill_id:
        replacement = ""
    ids = set(installed)
    return TargetStatus(
        installed=skill_id in ids,
        deprecated=skill_id in shims,
        replacement=replacement,
        removed=is_removed(skill_id),
        suggestions=() if skill_id in ids else tuple(close_matches(skill_id, ids)),
    )
