"""Deterministic generation of the files a manifest implies, per BMAD generation.

`generate(manifest, install)` returns every file sorted by path, plus notes for what
cannot be generated for this install. Files that teams also edit (`_bmad/custom/*.toml`)
carry an `edit(current, previous)` function instead of fixed content: it edits the
current text in place with tomlkit, so the team's own keys and comments survive.
The same inputs always give byte-identical output.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import yaml

from provisioning.engine import paths
from provisioning.engine.bmad_names import agent_list, legacy_agent
from provisioning.engine.findings_tools import SKILL_GENERATIONS
from provisioning.engine.generator_claude import claude_outputs, released_outputs
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


class InPlaceEdit(Protocol):
    """An edit of a file teams also edit (TOML in `tomledit`, JSON in `jsonedit`)."""

    def render(self, current: str | None, previous: str | None) -> str: ...

    def changes(self, current: str | None, previous: str | None) -> bool: ...

    def problem(self, current: str | None) -> str | None: ...

    def base_of(self, text: str) -> str: ...

    def untouched(self, current: str, previous: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    path: str  # repo-relative POSIX path, checked by paths.is_safe_relpath
    content: str  # the text for a repository that does not have the file yet
    # "skill", "skill-config", "agent-registration", "customization", "integration",
    # "mcp-config", "subagent"
    kind: str
    edit: InPlaceEdit | None = field(default=None, compare=False, repr=False)

    def render(self, current: str | None, previous: str | None = None) -> str:
        """The text this file should have, given its current and last-written text."""
        if self.edit is None or (current is None and previous is None):
            return self.content  # an in-place file's content is its render from nothing
        return self.edit.render(current, previous)

    def lock_base(self, text: str) -> str:
        """What the lock file keeps as the base of `text` (for a JSON file the team
        shares: bmadweb's part of it)."""
        return self.edit.base_of(text) if self.edit else text


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


def _skill_tools(manifest: Manifest, install: BmadInstall) -> list[str]:
    """The declared tools that BMAD's installer set up (docs/bmad.md#tool-folders): skills
    go only where BMAD is. With no readable record, the declared tools are taken as said."""
    declared = manifest.project.tools
    if not install.tools_recorded:
        return list(declared)
    return [tool for tool in declared if tool in install.tools]


def _skill_dirs(manifest: Manifest, install: BmadInstall) -> list[str]:
    found = (skill_dir_for(install.generation, tool) for tool in _skill_tools(manifest, install))
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


def _block_of(skill: str, custom: Customization, install: BmadInstall) -> str:
    """The table of `_bmad/custom/<skill>.toml`: the one the skill's own customize.toml
    opens when the install shows it, else what the manifest's keys suggest."""
    known = install.skill_blocks.get(skill)
    if known is not None:
        return known
    return "agent" if custom.is_agent else "workflow"


def _block_keys(block: str) -> tuple[str, ...]:
    return _AGENT_KEYS if block == "agent" else (*_WORKFLOW_KEYS, "on_complete")


def _customization_values(custom: Customization, block: str) -> dict[str, TomlValue]:
    values: dict[str, TomlValue] = {}
    for key in _block_keys(block):
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


def _override_files(manifest: Manifest, install: BmadInstall) -> Iterator[GeneratedFile]:
    """`_bmad/custom/<skill>.toml` for customizations and integration hooks (6.4+)."""
    hooks = _merged_integrations(manifest)
    for skill in sorted(set(manifest.customizations) | set(hooks)):
        custom = manifest.customizations.get(skill, Customization())
        block = _block_of(skill, custom, install)
        values = _customization_values(custom, block)
        for key, extra in hooks.get(skill, {}).items():
            if extra:
                values[key] = [*values.get(key, ()), *extra]
        owned = _block_keys(block)
        editor = BlockEdit(block, values, tuple(owned), _CUSTOM_HEADER.format(skill=skill))
        kind = "customization" if skill in manifest.customizations else "integration"
        yield _in_place(paths.custom_toml(skill), kind, editor)


def _legacy_targets(
    manifest: Manifest, install: BmadInstall
) -> Iterator[tuple[tuple[str, str], Customization]]:
    """((module, agent), customization) for each key that names an agent of the install."""
    for key, custom in sorted(manifest.customizations.items()):
        agent = legacy_agent(key, install.agents, install.modules).agent
        if agent is not None:
            yield agent, custom


def _legacy_yaml(agent: tuple[str, str], custom: Customization) -> GeneratedFile:
    """`_bmad/_config/agents/<module>-<agent>.customize.yaml` for 6.0.x - 6.2."""
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
    return GeneratedFile(paths.legacy_customize_yaml(*agent), text, "customization")


def _notes(manifest: Manifest, install: BmadInstall) -> list[str]:
    gen, label = install.generation, _label(install)
    notes: list[str] = []
    for skill, custom in sorted(manifest.customizations.items()):
        if install.skill_blocks.get(skill) == "workflow" and custom.is_agent:
            notes.append(
                f"{skill} is a workflow in this install, so the persona keys of its "
                "customization (role, identity, communication_style, principles, icon, "
                "menu) do not apply and are not written; the other keys are."
            )
    has_agents = bool(manifest.leaders)
    skills_ok = gen in SKILL_GENERATIONS
    if has_agents and not skills_ok:
        first = "6.1+" if gen is Generation.V6_0 else "6.4+"
        notes.append(
            f"Custom skills are not generated for BMAD {label}: not supported (skills need "
            f"BMAD {first}); {_UPGRADE}."
        )
    if has_agents and skills_ok:
        notes += _tool_notes(manifest, install)
    if has_agents and gen in (Generation.V6_1, Generation.V6_3):
        notes.append(
            f"Custom agents are not registered for BMAD {label}: registration in "
            f"_bmad/custom/config.toml needs BMAD 6.4+; the skills can still be called by "
            f"name. To register them, {_UPGRADE}."
        )
    if manifest.customizations and gen in (Generation.V6_0, Generation.V6_1):
        notes += _legacy_notes(manifest, install)
    elif manifest.customizations and gen is not Generation.V6_4:
        notes.append(
            f"Customizations are not supported for BMAD {label}: they need BMAD 6.4+ "
            f"(_bmad/custom/<skill>.toml) and nothing is written for them; {_UPGRADE}."
        )
    if manifest.integrations and gen is not Generation.V6_4:
        notes.append(
            f"Workflow integrations are not supported for BMAD {label}: they need BMAD 6.4+ "
            f"and nothing is written for them; {_UPGRADE}."
        )
    return notes


def _tool_notes(manifest: Manifest, install: BmadInstall) -> list[str]:
    if not manifest.project.tools:
        return ["No tools are declared, so no skill folder receives the custom skills."]
    notes: list[str] = []
    chosen = _skill_tools(manifest, install)
    left_out = [t for t in manifest.project.tools if t not in chosen]
    if left_out:
        notes.append(
            f"No custom skills are written for {', '.join(left_out)}: BMAD's install record "
            "does not list it, so BMAD is not set up there (see BMAD_TOOL_NOT_INSTALLED)."
        )
    no_folder = [t for t in chosen if skill_dir_for(install.generation, t) is None]
    if no_folder:
        notes.append(
            f"No custom skills are written for {', '.join(no_folder)}: BMAD "
            f"{_label(install)} has no skill folder for it."
        )
    return notes


def _legacy_notes(manifest: Manifest, install: BmadInstall) -> list[str]:
    notes: list[str] = []
    taken: dict[str, str] = {}
    for key in sorted(manifest.customizations):
        found = legacy_agent(key, install.agents, install.modules)
        if found.stem is not None and found.stem in taken:
            notes.append(
                f"Customizations '{taken[found.stem]}' and '{key}' both name agent "
                f"{found.stem}; only '{key}' is written. Merge them into one key."
            )
        if found.stem is not None:
            taken[found.stem] = key
            continue
        if found.candidates:
            why = f"it could mean {agent_list(found.candidates)}"
        elif install.agents:
            why = f"no agent of this install matches it (agents: {agent_list(install.agents)})"
        else:
            why = "the install's agent roster cannot be read; write the key as <module>-<agent>"
        notes.append(f"Customization '{key}' is not written: {why}.")
    return notes


def generate(manifest: Manifest, install: BmadInstall) -> Generated:
    """Every file the manifest implies for this install, sorted by path, and notes."""
    gen = install.generation
    files: list[GeneratedFile] = []
    if gen in SKILL_GENERATIONS:
        files.extend(_skill_files(manifest, install))
    if gen is Generation.V6_4:
        registration = _registration(manifest)
        files.extend([registration] if registration else [])
        files.extend(_override_files(manifest, install))
    elif gen in (Generation.V6_0, Generation.V6_1):
        files.extend(_legacy_yaml(a, c) for a, c in _legacy_targets(manifest, install))
    outputs, claude_notes = claude_outputs(manifest, install)
    files.extend(GeneratedFile(*output) for output in outputs)
    unique = {f.path: f for f in files}
    ordered = tuple(unique[path] for path in sorted(unique))
    return Generated(ordered, tuple([*_notes(manifest, install), *claude_notes]))


def with_released(
    generated: Generated, locked: Collection[str], present: Callable[[str], bool]
) -> Generated:
    """`generated` plus the shared MCP files bmadweb wrote before and no longer declares
    anything in, when they still exist: its entries leave, the team's stay."""
    targets = generated.by_path()
    extra = [GeneratedFile(*o) for o in released_outputs(locked, targets) if present(o[0])]
    if not extra:
        return generated
    files = sorted([*generated.files, *extra], key=lambda f: f.path)
    return Generated(tuple(files), generated.notes)
