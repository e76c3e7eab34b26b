"""The pieces every fake BMAD install is made of: skill specs, the writer that records each
file's sha256 for files-manifest.csv, CSV and YAML helpers, skill files, and the edits
tests and the demo make to an install afterwards (hand edits, stale wrappers, orphaned
customization files)."""

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


AGENT_NAMES = {"pm": "Nadia", "architect": "Oskar", "dev": "Rui"}


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
class Writer:
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


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    buf.write(",".join(header) + "\n")
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def yaml_list(key: str, items: Iterable[str], indent: str = "") -> str:
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
        text += yaml_list("modules", modules)
    else:
        text += "modules:\n"
        for mod in modules:
            text += (
                f"  - name: {mod}\n    version: {version}\n    installDate: {INSTALL_DATE}\n"
                f"    lastUpdated: {INSTALL_DATE}\n    source: built-in\n"
                "    npmPackage: null\n    repoUrl: null\n"
            )
    return text + yaml_list("ides", tools)


def module_config(module: str, version: str) -> str:
    return (
        f"# {module.upper()} module configuration\n# Written by a bmadweb test builder\n"
        f"# Version: {version}\n# Date: {INSTALL_DATE}\n\n"
        "user_name: Tester\ncommunication_language: English\noutput_folder: _bmad-output\n"
    )


def help_csv(skills: Sequence[SkillSpec]) -> str:
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
    return csv_text(header, rows)


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
        name = AGENT_NAMES.get(role, role.title())
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


def write_skills(
    w: Writer, specs: Sequence[SkillSpec], skill_dirs: Sequence[str], generation: Generation
) -> None:
    """Write each skill's files to every tool folder; record rows keyed by source path."""
    in_bmad = generation is Generation.V6_1
    for spec in specs:
        for name, text in _skill_files(spec, generation=generation).items():
            w.managed(f"{spec.source_dir}/{name}", text, spec.module, on_disk=in_bmad)
            for folder in skill_dirs:
                w.write(f"{folder}/{spec.skill_id}/{name}", text)


def skill_manifest(w: Writer, specs: Sequence[SkillSpec], *, with_flag: bool = False) -> None:
    header = ["canonicalId", "name", "description", "module", "path"]
    rows = [
        [s.skill_id, s.skill_id, f"Test {s.kind}.", s.module, f"_bmad/{s.source_dir}/SKILL.md"]
        + (["true"] if with_flag else [])
        for s in specs
    ]
    w.write(
        "_bmad/_config/skill-manifest.csv",
        csv_text(header + ["install_to_bmad"] * with_flag, rows),
    )


def tool_skill_dirs(generation: Generation, tools: Sequence[str]) -> tuple[str, ...]:
    dirs: list[str] = []
    for tool in tools:
        folder = skill_dir_for(generation, tool)
        if folder and folder not in dirs:
            dirs.append(folder)
    return tuple(dirs)


def pad(w: Writer, extra_files: int) -> None:
    """Unrelated project files so benches can measure a realistic repository size."""
    for i in range(extra_files):
        w.write(f"src/pkg_{i // 100:03d}/mod_{i % 100:03d}.py", f"VALUE = {i}\n")


def first_skill_file(specs: Sequence[SkillSpec], dirs: Sequence[str]) -> str | None:
    return f"{dirs[0]}/{specs[0].skill_id}/SKILL.md" if specs and dirs else None


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
        base = COMMAND_DIRS.get(tool)
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


def add_shims(
    root: Path, shims: dict[str, str], *, module: str = "bmm", installed: bool = False
) -> str:
    """A 6.12-style deprecated-skills table in `_bmad/<module>/v6-shims/README.md` (shim id ->
    the id it forwards to, "" when it keeps its own workflow). With `installed`, the shims
    are also skill-manifest rows whose description opens with "Deprecated", as when the
    installer ran with `--shims`. Returns the README's path."""
    rows = "".join(
        f"| `{old}` | {f'`{new}`' if new else 'kept whole'} |\n" for old, new in shims.items()
    )
    rel = f"_bmad/{module}/v6-shims/README.md"
    write_file(root, rel, f"# Old skill ids (fixture)\n\n| old | now |\n|---|---|\n{rows}")
    if installed:
        manifest = root / "_bmad/_config/skill-manifest.csv"
        extra = [
            [
                old,
                old,
                f"Deprecated: forwards to {new}." if new else "Deprecated.",
                module,
                f"_bmad/{module}/v6-shims/{old}/SKILL.md",
            ]
            for old, new in shims.items()
        ]
        body = csv_text(["x"], extra).split("\n", 1)[1]
        with manifest.open("a", encoding="utf-8") as fh:
            fh.write(body)
    return rel


def customize_yaml(*, role: str = "", principles: Sequence[str] = ()) -> str:
    """A 6.0-style `<module>-<agent>.customize.yaml`; empty values mean "no change"."""
    items = "".join(f"\n    - {p}" for p in principles) if principles else " []"
    return (
        '# Agent customization (fixture)\n\nagent:\n  metadata:\n    name: ""\n\n'
        f'persona:\n  role: "{role}"\n  identity: ""\n  communication_style: ""\n'
        f"  principles:{items}\n\ncritical_actions: []\nmemories: []\nmenu: []\nprompts: []\n"
    )


COMMAND_DIRS = {"claude-code": ".claude/commands", "cursor": ".cursor/commands"}
