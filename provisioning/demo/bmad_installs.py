"""Fixture builders: fake BMAD installs of every generation, written to a directory.

Used by the test suite, the benchmarks and the demo seed (`manage.py seed_demo`).
The content is invented for bmadweb; only the *shapes* follow the real installer
(docs/bmad.md): folder layout, manifest.yaml, files-manifest.csv with the real sha256 of
what is written, skill-manifest.csv, customize.toml headers, tool folders holding
byte-identical copies of each skill. Every builder returns a `BuiltInstall` naming a few
notable files so tests can poke at them. Builders are fast (a 6.4 install with 30 skills
and 5,000 padding files takes well under a second) and write nothing outside `root`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from provisioning.demo.install_parts import (
    AGENT_NAMES,
    COMMAND_DIRS,
    INSTALL_DATE,
    BuiltInstall,
    Writer,
    csv_text,
    customize_yaml,
    first_skill_file,
    help_csv,
    manifest_yaml,
    module_config,
    pad,
    skill_manifest,
    skill_specs,
    tool_skill_dirs,
    write_skills,
    yaml_list,
)

# Re-exported (``X as X``) for the demo seed and the tests: edits made after a build.
from provisioning.demo.install_parts import (
    add_orphaned_customize_yaml as add_orphaned_customize_yaml,
)
from provisioning.demo.install_parts import add_stale_command_wrappers as add_stale_command_wrappers
from provisioning.demo.install_parts import edit_file as edit_file
from provisioning.demo.install_parts import write_file as write_file
from provisioning.engine.types import Generation

# The demo project's manifest (seed_demo) and the tests' standard manifest: two leaders,
# one of them with a healthcare-compliance specialist, a PM customization and a hook.
DEMO_MANIFEST = """\
apiVersion: bmadweb/v1
project:
  name: healthai
  bmad_version: ">=6.4,<7"
  modules: [core, bmm]
  tools: [claude-code, cursor]
leaders:
  - id: dev-leader
    name: Dev Leader
    domain: engineering
    phase: implementation
    description: Routes engineering requests to the right specialist.
    specialists:
      - id: frontend-specialist
        name: Frontend Specialist
        domain: frontend
        skills: [react, accessibility]
        compliance_notes: WCAG 2.2 AA for every screen.
  - id: qa-leader
    name: QA Leader
    domain: quality assurance
    phase: implementation
    description: Owns acceptance criteria and test strategy.
    specialists:
      - id: hipaa-reviewer
        name: HIPAA Reviewer
        domain: healthcare compliance
        skills: [phi-handling, audit-trails]
        compliance_notes: Every feature touching patient data needs a PHI review.
customizations:
  bmad-agent-pm:
    persistent_facts: ["file:{project-root}/docs/standards/*.md"]
    principles: ["Prefer short, bulleted PRDs."]
integrations:
  - workflow: bmad-prd
    phase: planning
    activation_steps_append: ["Consult the qa-leader skill for acceptance criteria."]
"""


# ---------------------------------------------------------------- skills (6.1 to 6.4+)


# ---------------------------------------------------------------- 6.4+


def build_v64(
    root: Path,
    *,
    version: str = "6.12.0",
    modules: Sequence[str] = ("core", "bmm"),
    tools: Sequence[str] = ("claude-code", "cursor"),
    skills: int = 8,
    extra_files: int = 0,
    ignore_user_config: bool = True,
) -> BuiltInstall:
    """A 6.4+ install: `_bmad` holds config, scripts and manifests; skills live in tool
    folders with `customize.toml`; `_bmad/custom/` has the team files and `.gitignore`.

    `ignore_user_config` adds a root `.gitignore` line for `_bmad/config.user.toml`, as
    a careful team would (the real installer does not)."""
    w = Writer(root, "_bmad")
    gen = Generation.V6_4
    specs = skill_specs(skills, modules)
    dirs = tool_skill_dirs(gen, tools)
    mods = tuple(modules)
    w.managed("_config/manifest.yaml", manifest_yaml(version, mods, tools), "_config")
    for mod in mods:
        w.managed(f"{mod}/config.yaml", module_config(mod, version), mod)
        w.managed(f"{mod}/module-help.csv", help_csv([s for s in specs if s.module == mod]), mod)
    w.managed(
        "config.toml", '# Installer-managed.\n\n[core]\nproject_name = "demo"\n', "config.toml"
    )
    w.managed(
        "config.user.toml", '# Personal.\n\n[core]\nuser_name = "Tester"\n', "config.user.toml"
    )
    w.managed("custom/.gitignore", "*.user.toml\n", "custom")
    w.write("_bmad/custom/config.toml", "# Team overrides for _bmad/config.toml.\n")
    w.write("_bmad/custom/config.user.toml", "# Personal overrides (gitignored).\n")
    for script in ("resolve_customization", "resolve_config", "render_skill"):
        w.managed(f"scripts/{script}.py", f'"""Fixture {script}."""\n\nprint("ok")\n', "scripts")
    write_skills(w, specs, dirs, gen)
    skill_manifest(w, specs)
    w.write("_bmad/_config/bmad-help.csv", help_csv(specs))
    w.files_manifest()
    if ignore_user_config:
        w.write(".gitignore", "_bmad/config.user.toml\n")
    pad(w, extra_files)
    return BuiltInstall(
        root=root,
        generation=gen,
        version=version,
        modules=mods,
        tools=tuple(tools),
        bmad_dir="_bmad",
        skill_ids=tuple(s.skill_id for s in specs),
        skill_dirs=dirs,
        manifest="_bmad/_config/manifest.yaml",
        files_manifest="_bmad/_config/files-manifest.csv",
        sample_skill_file=first_skill_file(specs, dirs),
        sample_managed_file="_bmad/config.toml",
        file_count=w.count,
    )


# ---------------------------------------------------------------- 6.3


def build_v63(
    root: Path,
    *,
    version: str = "6.3.0",
    modules: Sequence[str] = ("core", "bmm"),
    tools: Sequence[str] = ("claude-code", "cursor"),
    skills: int = 8,
) -> BuiltInstall:
    """A 6.3 install: `_bmad` keeps config and manifests only, skills carry
    `bmad-skill-manifest.yaml`, each tool has its own skill folder, no customization."""
    w = Writer(root, "_bmad")
    gen = Generation.V6_3
    specs = skill_specs(skills, modules)
    dirs = tool_skill_dirs(gen, tools)
    mods = tuple(modules)
    w.managed("_config/manifest.yaml", manifest_yaml(version, mods, tools), "_config")
    for mod in mods:
        w.managed(f"{mod}/config.yaml", module_config(mod, version), mod)
        w.managed(f"{mod}/module-help.csv", help_csv([s for s in specs if s.module == mod]), mod)
    (root / "_bmad/_config/agents").mkdir(parents=True, exist_ok=True)
    write_skills(w, specs, dirs, gen)
    skill_manifest(w, specs)
    w.write("_bmad/_config/bmad-help.csv", help_csv(specs))
    w.files_manifest()
    return BuiltInstall(
        root=root,
        generation=gen,
        version=version,
        modules=mods,
        tools=tuple(tools),
        bmad_dir="_bmad",
        skill_ids=tuple(s.skill_id for s in specs),
        skill_dirs=dirs,
        manifest="_bmad/_config/manifest.yaml",
        files_manifest="_bmad/_config/files-manifest.csv",
        sample_skill_file=first_skill_file(specs, dirs),
        sample_managed_file=f"_bmad/{mods[0]}/config.yaml",
        file_count=w.count,
    )


# ---------------------------------------------------------------- 6.0.x and 6.1-6.2


def _agent_md(module: str, agent: str, bmad_dir: str) -> str:
    name = AGENT_NAMES.get(agent, agent.title())
    return (
        f'---\nname: "{agent}"\ndescription: "{agent} agent (fixture)"\n---\n\n'
        "Act as this agent until told to stop.\n\n```xml\n"
        f'<agent id="{agent}.agent.yaml" name="{name}" title="{agent.title()}" icon="*">\n'
        f'  <activation>\n    <step n="1">Load {{project-root}}/{bmad_dir}/{module}/config.yaml'
        "</step>\n  </activation>\n  <persona><role>Fixture</role></persona>\n</agent>\n```\n"
    )


_V60_AGENTS: tuple[tuple[str, str], ...] = (
    ("core", "bmad-master"),
    ("bmm", "pm"),
    ("bmm", "architect"),
    ("bmm", "dev"),
)
_V60_WORKFLOWS: tuple[tuple[str, str, str], ...] = (
    ("core", "brainstorming", "workflows/brainstorming"),
    ("bmm", "create-prd", "workflows/2-plan-workflows/create-prd"),
    ("bmm", "sprint-planning", "workflows/4-implementation/sprint-planning"),
)
_V60_SAMPLE = "_bmad/bmm/workflows/2-plan-workflows/create-prd/workflow.md"


def _write_v60_body(w: Writer, bmad: str, modules: Sequence[str], version: str) -> list[str]:
    """Agents, workflows, module configs and the `_config` CSVs; returns customize files.

    Like the real installer, compiled agent files are not listed in files-manifest.csv."""
    custom: list[str] = []
    for mod, agent in _V60_AGENTS:
        if mod in modules:
            w.write(f"{bmad}/{mod}/agents/{agent}.md", _agent_md(mod, agent, bmad))
            rel = f"{bmad}/_config/agents/{mod}-{agent}.customize.yaml"
            w.write(rel, customize_yaml())
            custom.append(rel)
    for mod, wf, folder in _V60_WORKFLOWS:
        if mod in modules:
            w.managed(f"{mod}/{folder}/workflow.md", f"# {wf}\n\nRun the steps in order.\n", mod)
            w.managed(f"{mod}/{folder}/steps/step-01-init.md", "# Step 1\n\nGreet.\n", mod)
    for mod in modules:
        w.managed(f"{mod}/config.yaml", module_config(mod, version), mod)
    agents = [
        [a, a.title(), a.title(), "*", "", "", "", "", "", m, f"{bmad}/{m}/agents/{a}.md"]
        for m, a in _V60_AGENTS
        if m in modules
    ]
    header = [
        "name",
        "displayName",
        "title",
        "icon",
        "capabilities",
        "role",
        "identity",
        "communicationStyle",
        "principles",
        "module",
        "path",
    ]
    w.managed("_config/agent-manifest.csv", csv_text(header, agents), "_config")
    wfs = [
        [wf, f"Fixture {wf}.", m, f"{bmad}/{m}/{f}/workflow.md"]
        for m, wf, f in _V60_WORKFLOWS
        if m in modules
    ]
    w.managed(
        "_config/workflow-manifest.csv",
        csv_text(["name", "description", "module", "path"], wfs),
        "_config",
    )
    w.managed("_memory/README.md", "Agent memories live here.\n", "_memory")
    return custom


def _write_commands(
    w: Writer, bmad: str, modules: Sequence[str], tools: Sequence[str], nested: bool
) -> None:
    """6.0-style slash-command wrappers (flat `bmad-*.md`; alpha.22 nested `bmad/<mod>/`)."""
    for tool in tools:
        base = COMMAND_DIRS.get(tool)
        if base is None:
            continue
        for mod, agent in _V60_AGENTS:
            if mod in modules:
                name = f"bmad/{mod}/agents/{agent}.md" if nested else f"bmad-agent-{mod}-{agent}.md"
                w.write(
                    f"{base}/{name}",
                    f"---\nname: '{agent}'\n---\n\n"
                    f"LOAD {{project-root}}/{bmad}/{mod}/agents/{agent}.md\n",
                )
        for mod, wf, folder in _V60_WORKFLOWS:
            if mod in modules:
                name = f"bmad/{mod}/workflows/{wf}.md" if nested else f"bmad-{mod}-{wf}.md"
                w.write(
                    f"{base}/{name}", f"Run {{project-root}}/{bmad}/{mod}/{folder}/workflow.md\n"
                )


def build_v60(
    root: Path,
    *,
    version: str = "6.0.4",
    modules: Sequence[str] = ("core", "bmm"),
    tools: Sequence[str] = ("claude-code", "cursor"),
) -> BuiltInstall:
    """A 6.0.x install (alpha.17 to 6.0.4): agents as markdown under `_bmad/<module>/agents`,
    `*.customize.yaml` in `_bmad/_config/agents`, command wrappers per tool. An alpha
    version writes `modules` as a list of strings and nested commands, like alpha.22."""
    alpha = "alpha" in version.lower()
    w = Writer(root, "_bmad")
    mods = tuple(modules)
    custom = _write_v60_body(w, "_bmad", mods, version)
    w.managed(
        "_config/manifest.yaml",
        manifest_yaml(version, mods, tools, modules_as_strings=alpha),
        "_config",
    )
    for tool in tools:
        w.write(
            f"_bmad/_config/ides/{tool}.yaml", f"ide: {tool}\nconfigured_date: {INSTALL_DATE}\n"
        )
    w.files_manifest()
    _write_commands(w, "_bmad", mods, tools, nested=alpha)
    return BuiltInstall(
        root=root,
        generation=Generation.V6_0,
        version=version,
        modules=mods,
        tools=tuple(tools),
        bmad_dir="_bmad",
        manifest="_bmad/_config/manifest.yaml",
        files_manifest="_bmad/_config/files-manifest.csv",
        sample_managed_file=_V60_SAMPLE if "bmm" in mods else None,
        customize_yaml=tuple(custom),
        file_count=w.count,
    )


def build_v61(
    root: Path,
    *,
    version: str = "6.2.0",
    modules: Sequence[str] = ("core", "bmm"),
    tools: Sequence[str] = ("claude-code", "cursor"),
    skills: int = 6,
) -> BuiltInstall:
    """A 6.1-6.2 install: the 6.0 body still copied into `_bmad` (agents, workflows,
    `*.customize.yaml`) plus native skills in each tool's own skill folder."""
    w = Writer(root, "_bmad")
    gen = Generation.V6_1
    mods = tuple(modules)
    custom = _write_v60_body(w, "_bmad", mods, version)
    specs = skill_specs(skills, mods)
    dirs = tool_skill_dirs(gen, tools)
    write_skills(w, specs, dirs, gen)
    skill_manifest(w, specs, with_flag=True)
    w.managed("_config/manifest.yaml", manifest_yaml(version, mods, tools), "_config")
    w.files_manifest()
    return BuiltInstall(
        root=root,
        generation=gen,
        version=version,
        modules=mods,
        tools=tuple(tools),
        bmad_dir="_bmad",
        skill_ids=tuple(s.skill_id for s in specs),
        skill_dirs=dirs,
        manifest="_bmad/_config/manifest.yaml",
        files_manifest="_bmad/_config/files-manifest.csv",
        sample_skill_file=first_skill_file(specs, dirs),
        sample_managed_file=_V60_SAMPLE if "bmm" in mods else None,
        customize_yaml=tuple(custom),
        file_count=w.count,
    )


# ---------------------------------------------------------------- 6.0 alpha (early)


def build_v6_alpha(
    root: Path,
    *,
    version: str = "6.0.0-alpha.7",
    modules: Sequence[str] = ("core", "bmm"),
    tools: Sequence[str] = ("claude-code",),
    dot: bool = False,
) -> BuiltInstall:
    """An early 6.0 alpha: `bmad/` + `bmad/_cfg/` (or `.bmad/` + `.bmad/_cfg/` when dot),
    modules listed as plain strings, nested command wrappers."""
    bmad = ".bmad" if dot else "bmad"
    w = Writer(root, bmad)
    mods = tuple(modules)
    for mod, agent in _V60_AGENTS:
        if mod in mods:
            w.write(f"{bmad}/{mod}/agents/{agent}.md", _agent_md(mod, agent, bmad))
            w.write(f"{bmad}/_cfg/agents/{mod}-{agent}.customize.yaml", customize_yaml())
    for mod in mods:
        w.managed(f"{mod}/config.yaml", module_config(mod, version), mod)
    w.write(
        f"{bmad}/_cfg/manifest.yaml", manifest_yaml(version, mods, tools, modules_as_strings=True)
    )
    rows = w.rows
    w.write(
        f"{bmad}/_cfg/files-manifest.csv",
        csv_text(["type", "name", "module", "path", "hash"], rows),
    )
    _write_commands(w, bmad, mods, tools, nested=True)
    return BuiltInstall(
        root=root,
        generation=Generation.V6_ALPHA,
        version=version,
        modules=mods,
        tools=tuple(tools),
        bmad_dir=bmad,
        manifest=f"{bmad}/_cfg/manifest.yaml",
        files_manifest=f"{bmad}/_cfg/files-manifest.csv",
        sample_managed_file=f"{bmad}/{mods[-1]}/config.yaml",
        file_count=w.count,
    )


# ---------------------------------------------------------------- v4


def build_v4(
    root: Path, *, version: str = "4.44.3", ides: Sequence[str] = ("claude-code",)
) -> BuiltInstall:
    """A 4.x install: `.bmad-core/` edited in place, `install-manifest.yaml` listing
    16-hex sha256 prefixes, Claude commands under `BMad/`, Cursor rules."""
    w = Writer(root, ".bmad-core")
    entries: list[tuple[str, str]] = []

    def core(rel: str, text: str) -> None:
        entries.append((f".bmad-core/{rel}", w.write(f".bmad-core/{rel}", text)[:16]))

    core("core-config.yaml", "markdownExploder: true\nprd:\n  prdFile: docs/prd.md\n")
    for agent in ("pm", "architect", "dev"):
        core(
            f"agents/{agent}.md",
            f"# {agent}\n\n```yaml\nagent:\n  name: {agent.title()}\n  id: {agent}\n```\n",
        )
    core("tasks/create-doc.md", "# Create document\n\nFill the template.\n")
    core("templates/prd-tmpl.yaml", "template:\n  id: prd\n  name: PRD\n")
    core("checklists/pm-checklist.md", "- [ ] Goals are clear\n")
    core("workflows/greenfield-service.yaml", "workflow:\n  id: greenfield-service\n")
    core("data/technical-preferences.md", "# Preferences\n\nNone yet.\n")
    files = "".join(f"  - path: {p}\n    hash: {h}\n    modified: false\n" for p, h in entries)
    w.write(
        ".bmad-core/install-manifest.yaml",
        f"version: {version}\ninstalled_at: '{INSTALL_DATE}'\ninstall_type: full\nagent: null\n"
        + yaml_list("ides_setup", ides)
        + "expansion_packs: []\nfiles:\n"
        + files,
    )
    for ide in ides:
        for agent in ("pm", "architect", "dev"):
            if ide == "claude-code":
                w.write(f".claude/commands/BMad/agents/{agent}.md", f"# /{agent} command\n")
            elif ide == "cursor":
                w.write(f".cursor/rules/bmad/{agent}.mdc", f"---\ndescription: {agent}\n---\n")
    return BuiltInstall(
        root=root,
        generation=Generation.V4,
        version=version,
        modules=("core",),
        tools=tuple(ides),
        bmad_dir=".bmad-core",
        manifest=".bmad-core/install-manifest.yaml",
        sample_managed_file=".bmad-core/agents/pm.md",
        file_count=w.count,
    )


# ---------------------------------------------------------------- scenario helpers
