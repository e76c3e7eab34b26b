"""Fixture builders: fake BMAD installs of every generation, written to a directory.

Used by the test suite, the benchmarks and the demo seed (`manage.py seed_demo`).
The content is invented for bmadweb; only the *shapes* follow the real installer
(docs/BMAD.md): folder layout, manifest.yaml, files-manifest.csv with the real sha256 of
what is written, skill-manifest.csv, customize.toml headers, tool folders holding
byte-identical copies of each skill. Every builder returns a `BuiltInstall` naming a few
notable files so tests can poke at them. Builders are fast (a 6.4 install with 30 skills
and 5,000 padding files takes well under a second) and write nothing outside `root`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from provisioning.engine.types import Generation, skill_dir_for

DO_NOT_EDIT = "# DO NOT EDIT -- overwritten on every update.\n"
INSTALL_DATE = "2026-01-15T09:30:00.000Z"

# (skill id, module, phase folder, kind) — invented names in the real naming style.
_BASE_SKILLS: tuple[tuple[str, str, str, str], ...] = (
    ("bmad-agent-pm", "bmm", "plan", "agent"),
    ("bmad-agent-architect", "bmm", "plan", "agent"),
    ("bmad-agent-dev", "bmm", "ship", "agent"),
    ("bmad-help", "core", "", "workflow"),
    ("bmad-brainstorming", "core", "", "workflow"),
    ("bmad-prd", "bmm", "plan", "workflow"),
    ("bmad-architecture", "bmm", "plan", "workflow"),
    ("bmad-sprint-planning", "bmm", "ship", "workflow"),
)
_AGENT_NAMES = {"pm": "Nadia", "architect": "Oskar", "dev": "Rui"}


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
  - workflow: bmad-create-prd
    phase: planning
    activation_steps_append: ["Consult the qa-leader skill for acceptance criteria."]
"""


@dataclass(frozen=True, slots=True)
class SkillSpec:
    """One skill a builder writes: its id, module, source folder under the BMAD dir."""

    skill_id: str
    module: str
    source_dir: str  # relative to the BMAD folder, e.g. "bmm/plan/bmad-prd"
    kind: str  # "agent" | "workflow"


@dataclass(frozen=True, slots=True)
class BuiltInstall:
    """What a builder wrote; paths are repo-relative POSIX strings."""

    root: Path
    generation: Generation
    version: str
    modules: tuple[str, ...]
    tools: tuple[str, ...]
    bmad_dir: str
    skill_ids: tuple[str, ...] = ()
    skill_dirs: tuple[str, ...] = ()  # tool folders holding skills, e.g. ".claude/skills"
    manifest: str | None = None  # manifest.yaml / install-manifest.yaml
    files_manifest: str | None = None
    sample_skill_file: str | None = None  # an installer-managed file in a tool folder
    sample_managed_file: str | None = None  # an installer-managed file in the BMAD folder
    customize_yaml: tuple[str, ...] = ()
    file_count: int = 0


@dataclass
class _Writer:
    """Writes files under root and remembers the hashes of BMAD-managed ones."""

    root: Path
    bmad_dir: str
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    count: int = 0
    _made: set[Path] = field(default_factory=set)

    def write(self, rel: str, text: str | bytes) -> str:
        data = text.encode() if isinstance(text, str) else text
        path = self.root / rel
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        path.write_bytes(data)
        self.count += 1
        return hashlib.sha256(data).hexdigest()

    def managed(
        self, bmad_rel: str, text: str | bytes, module: str, *, on_disk: bool = True
    ) -> str:
        """Record a files-manifest row; write the file under the BMAD folder if on_disk."""
        data = text.encode() if isinstance(text, str) else text
        digest = hashlib.sha256(data).hexdigest()
        if on_disk:
            self.write(f"{self.bmad_dir}/{bmad_rel}", data)
        pure = PurePosixPath(bmad_rel)
        self.rows.append((pure.suffix.lstrip(".") or "file", pure.stem, module, bmad_rel, digest))
        return digest

    def files_manifest(self) -> str:
        buf = io.StringIO()
        buf.write("type,name,module,path,hash\n")
        out = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
        out.writerows(self.rows)
        return self.write(f"{self.bmad_dir}/_config/files-manifest.csv", buf.getvalue())


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    buf.write(",".join(header) + "\n")
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _yaml_list(key: str, items: Iterable[str], indent: str = "") -> str:
    lines = [f"{indent}{key}:"] + [f"{indent}  - {item}" for item in items]
    return "\n".join(lines) + "\n"


def manifest_yaml(
    version: str, modules: Sequence[str], tools: Sequence[str], *, modules_as_strings: bool = False
) -> str:
    """A `_bmad/_config/manifest.yaml` in the installer's shape."""
    text = (
        f"installation:\n  version: {version}\n  installDate: {INSTALL_DATE}\n"
        f"  lastUpdated: {INSTALL_DATE}\n"
    )
    if modules_as_strings:
        text += _yaml_list("modules", modules)
    else:
        text += "modules:\n"
        for mod in modules:
            text += (
                f"  - name: {mod}\n    version: {version}\n    installDate: {INSTALL_DATE}\n"
                f"    lastUpdated: {INSTALL_DATE}\n    source: built-in\n"
                "    npmPackage: null\n    repoUrl: null\n"
            )
    return text + _yaml_list("ides", tools)


def _module_config(module: str, version: str) -> str:
    return (
        f"# {module.upper()} module configuration\n# Written by a bmadweb test builder\n"
        f"# Version: {version}\n# Date: {INSTALL_DATE}\n\n"
        "user_name: Tester\ncommunication_language: English\noutput_folder: _bmad-output\n"
    )


def _help_csv(skills: Sequence[SkillSpec]) -> str:
    header = [
        "module",
        "skill",
        "display-name",
        "menu-code",
        "description",
        "action",
        "args",
        "phase",
        "preceded-by",
        "followed-by",
        "required",
        "output-location",
        "outputs",
    ]
    rows = [
        [
            s.module,
            s.skill_id,
            s.skill_id.removeprefix("bmad-").title(),
            f"M{i}",
            f"Test entry {i}.",
            "",
            "",
            "anytime",
            "",
            "",
            "false",
            "",
            "",
        ]
        for i, s in enumerate(skills)
    ]
    return _csv_text(header, rows)


# ---------------------------------------------------------------- skills (6.1 to 6.4+)


def skill_specs(count: int, modules: Sequence[str] = ("core", "bmm")) -> tuple[SkillSpec, ...]:
    """`count` skills: the base list first, then numbered workflow skills."""
    specs: list[SkillSpec] = []
    for skill_id, module, phase, kind in _BASE_SKILLS:
        if module in modules:
            base = f"{module}/{phase}/{skill_id}" if phase else f"{module}/{skill_id}"
            specs.append(SkillSpec(skill_id, module, base, kind))
    mod = "bmm" if "bmm" in modules else modules[0]
    n = 0
    while len(specs) < count:
        n += 1
        specs.append(SkillSpec(f"bmad-wf-{n:03d}", mod, f"{mod}/extra/bmad-wf-{n:03d}", "workflow"))
    return tuple(specs[:count])


def _skill_md(spec: SkillSpec) -> str:
    return (
        f"---\nname: {spec.skill_id}\ndescription: Test {spec.kind} {spec.skill_id}. "
        "Use when a bmadweb test asks for it.\n---\n\n"
        f"# {spec.skill_id}\n\nFollow the steps in this folder. Resolve customization first.\n"
    )


def customize_toml(spec: SkillSpec) -> str:
    """A 6.4+ `customize.toml` with the installer's do-not-edit header."""
    head = (
        f"{DO_NOT_EDIT}#\n# Customization surface for {spec.skill_id}.\n"
        f"# Team overrides: {{project-root}}/_bmad/custom/{spec.skill_id}.toml\n"
        f"# Personal overrides: {{project-root}}/_bmad/custom/{spec.skill_id}.user.toml\n\n"
    )
    common = "activation_steps_prepend = []\nactivation_steps_append = []\npersistent_facts = []\n"
    if spec.kind == "agent":
        role = spec.skill_id.removeprefix("bmad-agent-")
        name = _AGENT_NAMES.get(role, role.title())
        return head + (
            f'[agent]\nname = "{name}"\ntitle = "{role.title()}"\nicon = "*"\n{common}'
            f'role = "Test {role}"\nidentity = "A fixture."\ncommunication_style = "Brief."\n'
            'principles = ["Be testable."]\n\n[[agent.menu]]\ncode = "HI"\n'
            'description = "Say hello"\nprompt = "Greet the user."\n'
        )
    return head + f'[workflow]\n{common}on_complete = ""\n'


def _skill_files(spec: SkillSpec, *, generation: Generation) -> dict[str, str]:
    files = {"SKILL.md": _skill_md(spec)}
    if generation is Generation.V6_4:
        files["customize.toml"] = customize_toml(spec)
    elif spec.kind == "agent" or generation is Generation.V6_1:
        files["bmad-skill-manifest.yaml"] = f"type: {spec.kind}\nname: {spec.skill_id}\n"
    if spec.kind == "workflow":
        files["references/guide.md"] = f"# Guide for {spec.skill_id}\n\nStep one. Step two.\n"
        files["steps/step-01-start.md"] = "# Step 1\n\nAsk the user what they need.\n"
    return files


def _write_skills(
    w: _Writer, specs: Sequence[SkillSpec], skill_dirs: Sequence[str], generation: Generation
) -> None:
    """Write each skill's files to every tool folder; record rows keyed by source path."""
    in_bmad = generation is Generation.V6_1
    for spec in specs:
        for name, text in _skill_files(spec, generation=generation).items():
            w.managed(f"{spec.source_dir}/{name}", text, spec.module, on_disk=in_bmad)
            for folder in skill_dirs:
                w.write(f"{folder}/{spec.skill_id}/{name}", text)


def _skill_manifest(w: _Writer, specs: Sequence[SkillSpec], *, with_flag: bool = False) -> None:
    header = ["canonicalId", "name", "description", "module", "path"]
    rows = [
        [s.skill_id, s.skill_id, f"Test {s.kind}.", s.module, f"_bmad/{s.source_dir}/SKILL.md"]
        + (["true"] if with_flag else [])
        for s in specs
    ]
    w.write(
        "_bmad/_config/skill-manifest.csv",
        _csv_text(header + ["install_to_bmad"] * with_flag, rows),
    )


def _tool_skill_dirs(generation: Generation, tools: Sequence[str]) -> tuple[str, ...]:
    dirs: list[str] = []
    for tool in tools:
        folder = skill_dir_for(generation, tool)
        if folder and folder not in dirs:
            dirs.append(folder)
    return tuple(dirs)


def _pad(w: _Writer, extra_files: int) -> None:
    """Unrelated project files so benches can measure a realistic repository size."""
    for i in range(extra_files):
        w.write(f"src/pkg_{i // 100:03d}/mod_{i % 100:03d}.py", f"VALUE = {i}\n")


def _first_skill_file(specs: Sequence[SkillSpec], dirs: Sequence[str]) -> str | None:
    return f"{dirs[0]}/{specs[0].skill_id}/SKILL.md" if specs and dirs else None


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
    w = _Writer(root, "_bmad")
    gen = Generation.V6_4
    specs = skill_specs(skills, modules)
    dirs = _tool_skill_dirs(gen, tools)
    mods = tuple(modules)
    w.managed("_config/manifest.yaml", manifest_yaml(version, mods, tools), "_config")
    for mod in mods:
        w.managed(f"{mod}/config.yaml", _module_config(mod, version), mod)
        w.managed(f"{mod}/module-help.csv", _help_csv([s for s in specs if s.module == mod]), mod)
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
    _write_skills(w, specs, dirs, gen)
    _skill_manifest(w, specs)
    w.write("_bmad/_config/bmad-help.csv", _help_csv(specs))
    w.files_manifest()
    if ignore_user_config:
        w.write(".gitignore", "_bmad/config.user.toml\n")
    _pad(w, extra_files)
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
        sample_skill_file=_first_skill_file(specs, dirs),
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
    w = _Writer(root, "_bmad")
    gen = Generation.V6_3
    specs = skill_specs(skills, modules)
    dirs = _tool_skill_dirs(gen, tools)
    mods = tuple(modules)
    w.managed("_config/manifest.yaml", manifest_yaml(version, mods, tools), "_config")
    for mod in mods:
        w.managed(f"{mod}/config.yaml", _module_config(mod, version), mod)
        w.managed(f"{mod}/module-help.csv", _help_csv([s for s in specs if s.module == mod]), mod)
    (root / "_bmad/_config/agents").mkdir(parents=True, exist_ok=True)
    _write_skills(w, specs, dirs, gen)
    _skill_manifest(w, specs)
    w.write("_bmad/_config/bmad-help.csv", _help_csv(specs))
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
        sample_skill_file=_first_skill_file(specs, dirs),
        sample_managed_file=f"_bmad/{mods[0]}/config.yaml",
        file_count=w.count,
    )


# ---------------------------------------------------------------- 6.0.x and 6.1-6.2


def _agent_md(module: str, agent: str, bmad_dir: str) -> str:
    name = _AGENT_NAMES.get(agent, agent.title())
    return (
        f'---\nname: "{agent}"\ndescription: "{agent} agent (fixture)"\n---\n\n'
        "Act as this agent until told to stop.\n\n```xml\n"
        f'<agent id="{agent}.agent.yaml" name="{name}" title="{agent.title()}" icon="*">\n'
        f'  <activation>\n    <step n="1">Load {{project-root}}/{bmad_dir}/{module}/config.yaml'
        "</step>\n  </activation>\n  <persona><role>Fixture</role></persona>\n</agent>\n```\n"
    )


def customize_yaml(*, role: str = "", principles: Sequence[str] = ()) -> str:
    """A 6.0-style `<module>-<agent>.customize.yaml`; empty values mean "no change"."""
    items = "".join(f"\n    - {p}" for p in principles) if principles else " []"
    return (
        '# Agent customization (fixture)\n\nagent:\n  metadata:\n    name: ""\n\n'
        f'persona:\n  role: "{role}"\n  identity: ""\n  communication_style: ""\n'
        f"  principles:{items}\n\ncritical_actions: []\nmemories: []\nmenu: []\nprompts: []\n"
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
_COMMAND_DIRS = {"claude-code": ".claude/commands", "cursor": ".cursor/commands"}


def _write_v60_body(w: _Writer, bmad: str, modules: Sequence[str], version: str) -> list[str]:
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
        w.managed(f"{mod}/config.yaml", _module_config(mod, version), mod)
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
    w.managed("_config/agent-manifest.csv", _csv_text(header, agents), "_config")
    wfs = [
        [wf, f"Fixture {wf}.", m, f"{bmad}/{m}/{f}/workflow.md"]
        for m, wf, f in _V60_WORKFLOWS
        if m in modules
    ]
    w.managed(
        "_config/workflow-manifest.csv",
        _csv_text(["name", "description", "module", "path"], wfs),
        "_config",
    )
    w.managed("_memory/README.md", "Agent memories live here.\n", "_memory")
    return custom


def _write_commands(
    w: _Writer, bmad: str, modules: Sequence[str], tools: Sequence[str], nested: bool
) -> None:
    """6.0-style slash-command wrappers (flat `bmad-*.md`; alpha.22 nested `bmad/<mod>/`)."""
    for tool in tools:
        base = _COMMAND_DIRS.get(tool)
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
    w = _Writer(root, "_bmad")
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
    w = _Writer(root, "_bmad")
    gen = Generation.V6_1
    mods = tuple(modules)
    custom = _write_v60_body(w, "_bmad", mods, version)
    specs = skill_specs(skills, mods)
    dirs = _tool_skill_dirs(gen, tools)
    _write_skills(w, specs, dirs, gen)
    _skill_manifest(w, specs, with_flag=True)
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
        sample_skill_file=_first_skill_file(specs, dirs),
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
    w = _Writer(root, bmad)
    mods = tuple(modules)
    for mod, agent in _V60_AGENTS:
        if mod in mods:
            w.write(f"{bmad}/{mod}/agents/{agent}.md", _agent_md(mod, agent, bmad))
            w.write(f"{bmad}/_cfg/agents/{mod}-{agent}.customize.yaml", customize_yaml())
    for mod in mods:
        w.managed(f"{mod}/config.yaml", _module_config(mod, version), mod)
    w.write(
        f"{bmad}/_cfg/manifest.yaml", manifest_yaml(version, mods, tools, modules_as_strings=True)
    )
    rows = w.rows
    w.write(
        f"{bmad}/_cfg/files-manifest.csv",
        _csv_text(["type", "name", "module", "path", "hash"], rows),
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
    w = _Writer(root, ".bmad-core")
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
        + _yaml_list("ides_setup", ides)
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


def edit_file(root: Path, rel: str, append: str = "\n<!-- edited by hand -->\n") -> Path:
    """Append text to a repo file (a hand edit) and return its path."""
    path = root / rel
    with path.open("a", encoding="utf-8") as fh:
        fh.write(append)
    return path


def write_file(root: Path, rel: str, text: str | bytes) -> Path:
    """Write (or overwrite) a repo file, creating folders."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def add_stale_command_wrappers(
    root: Path, tools: Sequence[str] = ("claude-code", "cursor")
) -> tuple[str, ...]:
    """Leave 6.0-era `bmad-*` command wrappers behind, as an upgrade does."""
    written = []
    for tool in tools:
        base = _COMMAND_DIRS.get(tool)
        if base:
            for name in ("bmad-agent-bmm-pm.md", "bmad-bmm-create-prd.md"):
                write_file(root, f"{base}/{name}", "LOAD {project-root}/_bmad/bmm/agents/pm.md\n")
                written.append(f"{base}/{name}")
    return tuple(written)


def add_orphaned_customize_yaml(root: Path, *, customized: bool = True) -> tuple[str, ...]:
    """Leave 6.0-era `*.customize.yaml` files behind; the first one carries a real change."""
    rels = (
        "_bmad/_config/agents/bmm-pm.customize.yaml",
        "_bmad/_config/agents/bmm-dev.customize.yaml",
    )
    write_file(
        root,
        rels[0],
        customize_yaml(role="Team PM", principles=["Short PRDs."])
        if customized
        else customize_yaml(),
    )
    write_file(root, rels[1], customize_yaml())
    return rels
