"""Findings on the BMAD names a manifest targets (docs/bmad.md#findings).

- 6.4+: every integration's workflow and every customization key must be a skill of the
  install (`skill-manifest.csv`) or one of the manifest's own skills. A renamed skill is
  named from the install's own files (its `v6-shims` tables, deprecated manifest rows).
- 6.0 - 6.2: every customization key must name an agent of the install's roster
  (`agent-manifest.csv`), which decides the `<module>-<agent>.customize.yaml` file.

bmadweb does not move an override to a renamed skill by itself: the new skill often does
more than the old one (one skill for several), so the team decides (the finding says so).
"""

from __future__ import annotations

from collections.abc import Sequence

from provisioning.engine.bmad_facts import SHIMS_FOLDER
from provisioning.engine.bmad_names import TargetStatus, agent_list, legacy_agent, target_status
from provisioning.engine.findings_tools import v6_update_command
from provisioning.engine.paths import custom_toml, is_valid_id
from provisioning.engine.types import BmadInstall, Finding, Generation, Severity


def target_findings(
    install: BmadInstall,
    *,
    integrations: Sequence[str] = (),
    customizations: Sequence[str] = (),
    own_skills: Sequence[str] = (),
) -> list[Finding]:
    if install.generation is Generation.V6_4:
        if not install.skills:
            return []  # no skill-manifest.csv to check against (reported while reading)
        own = set(own_skills)
        found = [
            f
            for workflow in dict.fromkeys(integrations)
            if (f := _skill_target(install, workflow, integration=True))
        ]
        found += [
            f
            for key in customizations
            if key not in own and (f := _skill_target(install, key, integration=False))
        ]
        return found
    if install.generation in (Generation.V6_0, Generation.V6_1):
        return [f for key in customizations if (f := _agent_target(install, key))]
    return []


def _skill_target(install: BmadInstall, target: str, *, integration: bool) -> Finding | None:
    if not is_valid_id(target):
        return None
    status = target_status(target, install.skills, install.shims)
    if status.installed and not status.deprecated:
        return None
    field = "the manifest's workflow" if integration else "the manifest's customization key"
    what = "integration hooks" if integration else "customization"
    override = custom_toml(target)
    version = install.version or "this install"
    if status.installed:
        return _deprecated(target, status, field, what, override)
    if status.replacement:
        new = status.replacement
        shims = (
            f" Or re-run the installer with `--shims` to keep {target} as a skill that "
            f"forwards to {new} until BMAD 7."
        )
        return Finding(
            "BMAD_SKILL_RENAMED",
            Severity.ERROR,
            f"{target} was renamed to {new} in this install",
            f"BMAD {version} has no skill {target}: it was renamed to {new} in this install "
            f"(its {SHIMS_FOLDER} table forwards {target} to {new}). No installed skill "
            f"reads {override}, so the {what} there has no effect. bmadweb keeps writing "
            f"{override} as the manifest says and does not move the {what} to {new} by "
            f"itself: {new} may do more than {target} did, and the steps may need new "
            "wording.",
            f"Change {field} to {new}.{shims}",
            False,
            (override,),
        )
    return _not_installed(install, target, status, field, what, override)


def _deprecated(target: str, status: TargetStatus, field: str, what: str, override: str) -> Finding:
    new = status.replacement
    forwards = f", which forwards to {new}" if new else ""
    advice = (
        f"Change {field} to {new} before upgrading to BMAD 7."
        if new
        else f"Choose the skill that replaces {target} before upgrading to BMAD 7."
    )
    return Finding(
        "BMAD_SKILL_RENAMED",
        Severity.WARNING,
        f"{target} is a deprecated BMAD skill",
        f"This install keeps {target} only as a compatibility shim{forwards}. The {what} "
        f"in {override} applies while the shim is installed; BMAD removes its shims with "
        "version 7.",
        advice,
        False,
        (override,),
    )


def _not_installed(
    install: BmadInstall,
    target: str,
    status: TargetStatus,
    field: str,
    what: str,
    override: str,
) -> Finding:
    close = f" Did you mean {' or '.join(status.suggestions)}?" if status.suggestions else ""
    if status.deprecated:
        why = (
            f"{target} is one of BMAD's deprecated compatibility skills (its "
            f"{SHIMS_FOLDER} table lists it), which this install left out."
        )
        advice = (
            f"Re-run the installer with `--shims` to keep {target} until BMAD 7 "
            f"(`{v6_update_command(install, 'tools', install.tools)} --shims`), or change "
            f"{field} to another skill.{close}"
        )
    elif status.removed:
        why = (
            f"BMAD removed or renamed {target}: its installer deletes a skill of that name "
            "on every install and update."
        )
        advice = f"Change {field} to the skill that replaced it.{close}"
    else:
        why = f"{target} is not among the skills in _bmad/_config/skill-manifest.csv."
        advice = f"Fix {field}, or install the module that provides {target} (`--modules`).{close}"
    return Finding(
        "BMAD_SKILL_NOT_INSTALLED",
        Severity.ERROR,
        f"This install has no skill {target}",
        f"{why} No installed skill reads {override}, so the {what} there has no effect.",
        advice,
        False,
        (override,),
    )


def _agent_target(install: BmadInstall, key: str) -> Finding | None:
    found = legacy_agent(key, install.agents, install.modules)
    if found.agent is not None:
        return None
    version = install.version or f"generation {install.generation.value}"
    scheme = (
        f"BMAD {version} reads agent customizations from "
        "_bmad/_config/agents/<module>-<agent>.customize.yaml."
    )
    if not install.agents:
        why = (
            "_bmad/_config/agent-manifest.csv cannot be read, so bmadweb cannot tell which "
            f"agent '{key}' means."
        )
        advice = "Write the customization key as <module>-<agent>, for example bmm-pm."
    elif found.candidates:
        why = f"'{key}' could mean {agent_list(found.candidates)}."
        advice = f"Write the key as one of {agent_list(found.candidates)}."
    else:
        why = f"No agent of this install matches '{key}'. Its agents: {agent_list(install.agents)}."
        advice = "Use one of those names as the customization key (for example bmm-pm)."
    return Finding(
        "BMAD_AGENT_NOT_INSTALLED",
        Severity.ERROR,
        f"No agent of this install matches the customization '{key}'",
        f"{scheme} {why} bmadweb writes no file for this key.",
        advice,
        False,
        ("_bmad/_config/agent-manifest.csv",),
    )
