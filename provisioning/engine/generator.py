"""Deterministic generation of the files a manifest implies, per BMAD generation.

`generate(manifest, install)` returns every file sorted by path, plus notes for what
cannot be generated for this install. Files that teams also edit (`_bmad/custom/*.toml`)
carry an `edit(current, previous)` function instead of fixed content: it edits the
current text in place with tomlkit, so the team's own keys and comments survive.
The same inputs always give byte-identical output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import yaml

from provisioning.engine import paths
from provisioning.engine.manifest import Customization, Leader, Manifest, Specialist
from provisioning.engine.templates import skills as tpl
from provisioning.engine.tomledit import AgentsEdit, BlockEdit, TomlEdit, TomlValue
from provisioning.engine.types import BmadInstall, Generation, skill_dir_for

# 2.0.0: agents shaped like BMAD's own (resolver activation, full roster registration).
GENERATOR_VERSION = "2.0.0"

_AGENT_KEYS = (
    "activation_steps_prepend",
    "activation_steps_append",
    "persistent_facts",
    "role",
    "identity",
    "communication_style",
    "principles",
    "icon",
    "menu",
)
_WORKFLOW_KEYS = ("activation_steps_prepend", "activation_steps_append", "persistent_facts")
_CUSTOM_HEADER = (
    "# Team overrides for {skill}. bmadweb manages the keys its manifest declares;\n"
    "# other keys and comments here are kept.\n"
)
_AGENTS_HEADER = "# Team overrides for _bmad/config.toml (custom agents registered by bmadweb).\n"
_UPGRADE = "upgrade to BMAD 6.4+ (recommended)"


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    path: str  # repo-relative POSIX path, checked by paths.is_safe_relpath
    content: str  # the text for a repository that does not have the file yet
    kind: str  # "skill", "skill-config", "agent-registration", "customization", "integration"
    edit: TomlEdit | None = field(default=None, compare=False, repr=False)

    def render(self, current: str | None, previous: str | None = None) -> str:
        """The text this file should have, given its current and last-written text."""
        if self.edit is None or (current is None and previous is None):
            return self.content  # an in-place file's content is its render from nothing
        return self.edit.render(current, previous)


@dataclass(frozen=True, slots=True)
class Generated:
    files: tuple[GeneratedFile, ...]
    notes: tuple[str, ...] = ()

    def by_path(self) -> dict[str, GeneratedFile]:
        return {f.path: f for f in self.files}


def _label(install: BmadInstall) -> str:
    version = f" {install.version}" if install.version else ""
    if install.generation is Generation.NONE:
        return "(no BMAD install found)"
    return f"{install.generation.value} generation{version}"


def _skill_dirs(manifest: Manifest, install: BmadInstall) -> list[str]:
    found = (skill_dir_for(install.generation, tool) for tool in manifest.project.tools)
    return sorted({d for d in found if d is not None})


def _skill_files(manifest: Manifest, install: BmadInstall) -> Iterator[GeneratedFile]:
    with_config = install.generation is Generation.V6_4
    dirs = _skill_dirs(manifest, install)
    for leader in manifest.leaders:
        group: list[Leader | Specialist] = [leader, *leader.specialists]
        for agent in group:
            texts = _agent_texts(agent, leader, with_config)
            for skill_dir in dirs:  # several tools: the same text in each folder
                for name, (text, kind) in texts.items():
                    yield GeneratedFile(paths.skill_file(skill_dir, agent.id, name), text, kind)


def _agent_texts(
    agent: Leader | Specialist, leader: Leader, with_config: bool
) -> dict[str, tuple[str, str]]:
    # `with_config` is BMAD 6.4+: the skill reads its customize.toml through the resolver.
    if isinstance(agent, Leader):
        texts = {"SKILL.md": (tpl.leader_skill_md(agent, native=with_config), "skill")}
    else:
        skill_md = tpl.specialist_skill_md(agent, leader, native=with_config)
        texts = {"SKILL.md": (skill_md, "skill")}
    if with_config:
        texts["customize.toml"] = (tpl.agent_customize_toml(agent, leader), "skill-config")
    return texts


def _in_place(path: str, kind: str, editor: TomlEdit) -> GeneratedFile:
    return GeneratedFile(path, editor.render(None, None), kind, editor)


def _registration(manifest: Manifest) -> GeneratedFile | None:
    agents: dict[str, Mapping[str, str]] = {}
    for leader in manifest.leaders:
        group: list[Leader | Specialist] = [leader, *leader.specialists]
        for agent in group:
            agents[agent.id] = tpl.roster_entry(tpl.persona_of(agent, leader))
    if not agents:
        return None
    editor = AgentsEdit(agents, _AGENTS_HEADER)
    return _in_place(paths.AGENTS_CONFIG_PATH, "agent-registration", editor)


def _customization_values(custom: Customization) -> dict[str, TomlValue]:
    values: dict[str, TomlValue] = {}
    for key in _AGENT_KEYS if custom.is_agent else (*_WORKFLOW_KEYS, "on_complete"):
        value = getattr(custom, key)
        if key == "menu":
            value = [m.model_dump(exclude_none=True) for m in value]
        if value not in (None, (), []):
            values[key] = value
    return values


def _merged_integrations(manifest: Manifest) -> dict[str, dict[str, list[str]]]:
    merged: dict[str, dict[str, list[str]]] = {}
    for integration in manifest.integrations:
        hooks = merged.setdefault(integration.workflow, {k: [] for k in _WORKFLOW_KEYS})
        for key in _WORKFLOW_KEYS:
            hooks[key].extend(getattr(integration, key))
    return merged


def _override_files(manifest: Manifest) -> Iterator[GeneratedFile]:
    """`_bmad/custom/<skill>.toml` for customizations and integration hooks (6.4+)."""
    hooks = _merged_integrations(manifest)
    for skill in sorted(set(manifest.customizations) | set(hooks)):
        custom = manifest.customizations.get(skill, Customization())
        values = _customization_values(custom)
        for key, extra in hooks.get(skill, {}).items():
            if extra:
                values[key] = [*values.get(key, ()), *extra]
        block = "agent" if custom.is_agent else "workflow"
        owned = _AGENT_KEYS if custom.is_agent else (*_WORKFLOW_KEYS, "on_complete")
        editor = BlockEdit(block, values, tuple(owned), _CUSTOM_HEADER.format(skill=skill))
        kind = "customization" if skill in manifest.customizations else "integration"
        yield _in_place(paths.custom_toml(skill), kind, editor)


def _legacy_yaml(skill: str, custom: Customization) -> GeneratedFile:
    """`_bmad/_config/agents/<skill>.customize.yaml` for 6.0.x - 6.2."""
    persona = {
        "role": custom.role or "",
        "identity": custom.identity or "",
        "communication_style": custom.communication_style or "",
        "principles": list(custom.principles),
    }
    menu = [
        {"trigger": m.code, "description": m.description}
        | ({"workflow": m.skill} if m.skill else {})
        | ({"action": m.prompt} if m.prompt else {})
        for m in custom.menu
    ]
    body = {
        "persona": persona,
        "critical_actions": [*custom.activation_steps_prepend, *custom.activation_steps_append],
        "memories": list(custom.persistent_facts),
        "menu": menu,
        "prompts": [],
    }
    text = "# Managed by bmadweb from the project manifest.\n" + yaml.safe_dump(
        body, sort_keys=False, allow_unicode=True, width=100
    )
    return GeneratedFile(paths.legacy_customize_yaml(skill), text, "customization")


def _notes(manifest: Manifest, install: BmadInstall) -> list[str]:
    gen, label = install.generation, _label(install)
    notes: list[str] = []
    has_agents = bool(manifest.leaders)
    skills_ok = gen in (Generation.V6_1, Generation.V6_4)
    if has_agents and not skills_ok:
        notes.append(
            f"Custom skills are not generated for BMAD {label}: not supported, {_UPGRADE}."
        )
    if has_agents and gen is Generation.V6_1:
        notes.append(f"Custom agents are not registered for BMAD {label}; {_UPGRADE}.")
    if has_agents and skills_ok and not manifest.project.tools:
        notes.append("No tools are declared, so no skill folder receives the custom skills.")
    if manifest.customizations and gen not in (Generation.V6_0, Generation.V6_1, Generation.V6_4):
        notes.append(f"Customizations are not supported for BMAD {label}; {_UPGRADE}.")
    if manifest.integrations and gen is not Generation.V6_4:
        notes.append(f"Workflow integrations are not supported for BMAD {label}; {_UPGRADE}.")
    return notes


def generate(manifest: Manifest, install: BmadInstall) -> Generated:
    """Every file the manifest implies for this install, sorted by path, and notes."""
    gen = install.generation
    files: list[GeneratedFile] = []
    if gen in (Generation.V6_1, Generation.V6_4):
        files.extend(_skill_files(manifest, install))
    if gen is Generation.V6_4:
        registration = _registration(manifest)
        files.extend([registration] if registration else [])
        files.extend(_override_files(manifest))
    elif gen in (Generation.V6_0, Generation.V6_1):
        files.extend(_legacy_yaml(s, c) for s, c in sorted(manifest.customizations.items()))
    unique = {f.path: f for f in files}
    ordered = tuple(unique[path] for path in sorted(unique))
    return Generated(ordered, tuple(_notes(manifest, install)))
