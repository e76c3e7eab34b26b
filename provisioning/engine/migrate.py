"""Move BMAD 6.0-6.3 agent customizations into BMAD 6.4+ overrides (docs/bmad.md#migration).

BMAD 6.0-6.2 customized an agent with `_bmad/_config/agents/<module>-<agent>.customize.yaml`;
6.4 and later read `_bmad/custom/<skill>.toml` and ignore the YAML. `plan_migration(root,
install)` reads each YAML that carries a real value, maps it onto the keys BMAD 6.4+
resolves (`persona` → `role`, `identity`, `communication_style`, `principles`;
`critical_actions` → `activation_steps_prepend`; `memories` → `persistent_facts`; menu
items → `[[agent.menu]]`; `agent.metadata.icon` → `icon`), merges the result into the
skill's existing team override, and deletes the YAML files (empty templates too). It
reads, never writes: the caller plans the changes (`migration_plan.py`).

A YAML whose agent has no 6.4+ skill in the repository (BMAD dropped some agents) is
left in place and named in a note; so is anything a 6.4+ override cannot express.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.engine import detect_read as rd
from provisioning.engine.detect_managed import skill_folders
from provisioning.engine.paths import LEGACY_AGENTS_DIR, custom_toml, is_valid_id
from provisioning.engine.tomledit import TomlEditError, TomlValue, edit_block, toml_string
from provisioning.engine.types import BmadInstall, Generation

_SUFFIX = ".customize.yaml"
_MAX_YAML = 256 * 1024
_MAX_TOML = 4 * 1024 * 1024
# Keys of `[agent]` an override may set, in the order a new file lists them.
_SCALARS = ("icon", "role", "identity", "communication_style")
_ARRAYS = ("activation_steps_prepend", "persistent_facts", "principles")
_ORDER = (*_SCALARS, *_ARRAYS, "menu")
_HEADER = (
    "# Team overrides for {skill}: migrated by bmadweb from {source}\n"
    "# (the BMAD 6.0-6.3 format, which BMAD 6.4 and later ignore).\n"
)


@dataclass(frozen=True, slots=True)
class MigratedAgent:
    """One YAML file and what became of it."""

    source: str  # _bmad/_config/agents/<module>-<agent>.customize.yaml
    skill: str | None  # the 6.4+ skill it customizes, None when there is none
    keys: tuple[str, ...] = ()  # `[agent]` keys written for it
    dropped: tuple[str, ...] = ()  # sentences: values that could not be carried over


@dataclass(frozen=True, slots=True)
class Migration:
    """The file changes a migration implies; `writes` maps a path to (old, new) text."""

    writes: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)
    deletes: Mapping[str, str] = field(default_factory=dict)  # path -> current text
    agents: tuple[MigratedAgent, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.writes and not self.deletes

    def summary(self) -> list[dict[str, Any]]:
        """JSON-safe: one entry per YAML file (for run records, the API and the CLI)."""
        return [
            {
                "source": a.source,
                "skill": a.skill,
                "target": custom_toml(a.skill) if a.skill else None,
                "keys": list(a.keys),
                "dropped": list(a.dropped),
                "removed": a.source in self.deletes,
            }
            for a in self.agents
        ]


# ---------------------------------------------------------------- reading the YAML


def legacy_yaml_files(root: Path) -> list[str]:
    """The `*.customize.yaml` files of `_bmad/_config/agents/`."""
    folder = LEGACY_AGENTS_DIR
    return [
        f"{folder}/{name}"
        for name, is_dir in rd.list_dir(root, folder)
        if not is_dir and name.endswith(_SUFFIX)
    ]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _texts(value: object) -> list[str]:
    """A list of non-empty sentences; a block of text becomes its lines (6.0 allowed both)."""
    if isinstance(value, str):
        lines = [line.strip().removeprefix("- ").strip() for line in value.splitlines()]
        return [line for line in lines if line]
    if isinstance(value, list):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return []


@dataclass
class _Mapped:
    values: dict[str, TomlValue] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def map_customization(doc: Mapping[str, Any]) -> _Mapped:
    """The 6.4+ `[agent]` values a 6.0-style customization document stands for."""
    out = _Mapped()
    agent = doc.get("agent")
    metadata = agent.get("metadata") if isinstance(agent, dict) else None
    if isinstance(metadata, dict):
        for key, value in metadata.items():
            if key == "icon" and _text(value):
                out.values["icon"] = _text(value)
            elif _text(value):
                out.dropped.append(
                    f"agent.metadata.{key} = {_shown(_text(value))}: BMAD 6.4+ overrides cannot "
                    "change it (make a custom agent for a new name or title)"
                )
    persona = doc.get("persona")
    if isinstance(persona, dict):
        for key in ("role", "identity", "communication_style"):
            if _text(persona.get(key)):
                out.values[key] = _text(persona.get(key))
        if _texts(persona.get("principles")):
            out.values["principles"] = _texts(persona.get("principles"))
    for source, target in (
        ("critical_actions", "activation_steps_prepend"),
        ("memories", "persistent_facts"),
    ):
        if _texts(doc.get(source)):
            out.values[target] = _texts(doc.get(source))
    menu = _menu(doc.get("menu"), _prompts(doc.get("prompts")), out.dropped)
    if menu:
        out.values["menu"] = menu
    known = {"agent", "persona", "critical_actions", "memories", "menu", "prompts"}
    for key in sorted(k for k in doc if isinstance(k, str) and k not in known):
        if _has_value(doc[key]):
            out.dropped.append(f"{key}: not a BMAD 6.4+ customization key")
    return out


def _prompts(value: object) -> dict[str, str]:
    items = value if isinstance(value, list) else []
    return {
        _text(p.get("id")): _text(p.get("content"))
        for p in items
        if isinstance(p, dict) and _text(p.get("id")) and _text(p.get("content"))
    }


def _menu(value: object, prompts: Mapping[str, str], dropped: list[str]) -> list[dict[str, str]]:
    """6.0 items (`trigger`, `description`, `workflow`|`exec`|`action`, …) as 6.4+ items
    (`code`, `description`, `prompt`): 6.0's handlers are gone, so each item becomes a
    prompt that says what the old handler did."""
    items: list[dict[str, str]] = []
    for raw in value if isinstance(value, list) else []:
        if not isinstance(raw, dict):
            continue
        code = _text(raw.get("trigger")).lstrip("*")
        prompt = _menu_prompt(raw, prompts)
        if not code or not prompt:
            dropped.append(f"menu item {code or '(no trigger)'}: no trigger or nothing to run")
            continue
        if code in {i["code"] for i in items}:
            continue
        items.append(
            {"code": code, "description": _text(raw.get("description")) or code, "prompt": prompt}
        )
    return items


def _menu_prompt(item: Mapping[str, Any], prompts: Mapping[str, str]) -> str:
    action = _text(item.get("action"))
    if action.startswith("#"):
        return prompts.get(action[1:], "")
    if action:
        return action
    for key in ("exec", "workflow", "validate-workflow", "tmpl"):
        target = _text(item.get(key))
        if target:
            data = _text(item.get("data"))
            extra = f" Use {data} as its input." if data else ""
            return f"Read fully and follow {target}.{extra}"
    return ""


def _has_value(value: object) -> bool:
    if isinstance(value, dict):
        return any(_has_value(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_value(v) for v in value)
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and value is not False


# ---------------------------------------------------------------- finding the skill


def _agent_skills(root: Path) -> set[str]:
    """Skill ids that have an `[agent]` table in their customize.toml (6.4+)."""
    found: set[str] = set()
    for folder in skill_folders(root, Generation.V6_4):
        for name, is_dir in rd.list_dir(root, folder):
            if name in found or not is_dir or not is_valid_id(name):
                continue
            data = rd.read_capped(root, f"{folder}/{name}/customize.toml", _MAX_TOML).data
            if data is not None and isinstance(_toml(data).get("agent"), dict):
                found.add(name)
    return found


def _toml(data: bytes) -> dict[str, Any]:
    text = rd.decode_text(data)
    try:
        return tomllib.loads(text) if text is not None else {}
    except tomllib.TOMLDecodeError:
        return {}


def target_skill(source: str, skills: Collection[str]) -> str | None:
    """The 6.4+ skill of `<module>-<agent>.customize.yaml` (`bmm-pm` → `bmad-agent-pm`)."""
    stem = source.rsplit("/", 1)[-1].removesuffix(_SUFFIX)
    _, _, agent = stem.partition("-")
    candidates = [f"bmad-agent-{agent}", f"bmad-agent-{stem}", f"bmad-{stem}", stem]
    if not agent:
        candidates = [f"bmad-agent-{stem}", stem]
    return next((c for c in candidates if c in skills), None)


# ---------------------------------------------------------------- merging into the override


def _merged(
    existing: Mapping[str, Any], wanted: Mapping[str, TomlValue]
) -> tuple[dict[str, TomlValue], list[str], list[str]]:
    """What to set in `[agent]`: (values, keys written, sentences about values kept out).

    The existing override is what BMAD 6.4+ applies today, so its scalars win; arrays
    gain the YAML's items they lack; menu items are added under codes not yet used."""
    values: dict[str, TomlValue] = {}
    written: list[str] = []
    dropped: list[str] = []
    for key in _ORDER:
        if key not in wanted:
            continue
        new, old = wanted[key], existing.get(key)
        if key in _SCALARS:
            if old is None:
                values[key] = new
                written.append(key)
            elif old != new:
                dropped.append(f"{key} = {_shown(new)}: the override already sets {key}")
        elif key == "menu":
            old_items = old if isinstance(old, list) else []
            codes = {i.get("code") for i in old_items if isinstance(i, dict)}
            added = [i for i in new if isinstance(i, Mapping) and i["code"] not in codes]
            if added:
                values[key] = [*old_items, *added]
                written.append(key)
        else:
            old_list = [v for v in old if isinstance(v, str)] if isinstance(old, list) else []
            extra = [v for v in new if isinstance(v, str) and v not in old_list]
            if extra:
                values[key] = [*old_list, *extra]
                written.append(key)
    return values, written, dropped


def _override_text(
    skill: str,
    source: str,
    current: str | None,
    values: Mapping[str, TomlValue],
    notes: Sequence[str],
) -> str:
    header = _HEADER.format(skill=skill, source=source)
    if current is None and notes:
        header += "".join(f"# Not carried over: {toml_comment(n)}\n" for n in notes)
    return edit_block(current, None, block="agent", values=values, owned=(), header=header)


def _shown(value: TomlValue) -> str:
    """A value as a note shows it: short, one line."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."


def toml_comment(text: str) -> str:
    """One line of text that is safe in a TOML comment."""
    return " ".join(toml_string(text)[1:-1].split())


# ---------------------------------------------------------------- the migration


def plan_migration(
    root: Path,
    install: BmadInstall,
    *,
    managed: Collection[str] = (),
    owned: Mapping[str, Collection[str]] | None = None,
) -> Migration:
    """The migration of every 6.0-style YAML customization of a 6.4+ install under `root`.

    `managed`: paths bmadweb itself wrote (its lock), never migrated (its plan removes
    them); `owned`: per skill, the override keys the manifest sets, which bmadweb keeps
    (the YAML's value is then named in a note instead)."""
    if install.generation is not Generation.V6_4:
        return Migration()
    sources = [p for p in legacy_yaml_files(root) if p not in managed]
    if not sources:
        return Migration()
    return _Migrator(root, owned or {}).run(sources)


class _Migrator:
    def __init__(self, root: Path, owned: Mapping[str, Collection[str]]) -> None:
        self.root = root
        self.owned = owned
        self.skills = _agent_skills(root)
        self.writes: dict[str, tuple[str | None, str]] = {}
        self.deletes: dict[str, str] = {}
        self.agents: list[MigratedAgent] = []
        self.notes: list[str] = []

    def run(self, sources: Sequence[str]) -> Migration:
        for source in sources:
            self._one(source)
        return Migration(self.writes, self.deletes, tuple(self.agents), tuple(self.notes))

    def _read(self, rel: str, cap: int) -> tuple[str | None, str | None]:
        """(text, None), (None, None) when absent, or (None, why it cannot be read)."""
        res = rd.read_capped(self.root, rel, cap)
        if res.missing:
            return None, None
        text = rd.decode_text(res.data) if res.data is not None else None
        return (text, None) if text is not None else (None, res.problem or "is not UTF-8 text")

    def _one(self, source: str) -> None:
        text, problem = self._read(source, _MAX_YAML)
        if text is None:
            self.notes.append(f"{source} was not migrated: it {problem or 'cannot be read'}.")
            return
        doc, why = rd.load_yaml_mapping(text.encode())
        if doc is None:
            self.notes.append(f"{source} was not migrated: it {why}.")
            return
        mapped = map_customization(doc)
        if not mapped.values and not mapped.dropped:
            self.deletes[source] = text  # an empty template: nothing to carry over
            self.agents.append(MigratedAgent(source, None))
            return
        skill = target_skill(source, self.skills)
        if skill is None:
            self.notes.append(
                f"{source} was not migrated: this install has no agent skill for it (BMAD "
                "6.4+ dropped or renamed the agent). Move what you still need by hand."
            )
            self.agents.append(MigratedAgent(source, None, dropped=tuple(mapped.dropped)))
            return
        self._into(skill, source, text, mapped)

    def _into(self, skill: str, source: str, yaml_text: str, mapped: _Mapped) -> None:
        path = custom_toml(skill)
        before, current = self.writes.get(path, (None, None))
        if path not in self.writes:
            current, problem = self._read(path, _MAX_TOML)
            if problem is not None:
                self.notes.append(f"{source} was not migrated: {path} {problem}.")
                return
            before = current
        owned = set(self.owned.get(skill, ()))
        wanted = {k: v for k, v in mapped.values.items() if k not in owned}
        kept_out = [
            f"{k} = {_shown(v)}: the manifest sets {k} for {skill} and bmadweb keeps the "
            "manifest's value (add this one to the manifest to keep it)"
            for k, v in mapped.values.items()
            if k in owned
        ]
        table = _toml(current.encode()).get("agent", {}) if current else {}
        values, written, dropped = _merged(table if isinstance(table, dict) else {}, wanted)
        dropped = [*mapped.dropped, *kept_out, *dropped]
        try:
            new = _override_text(skill, source, current, values, dropped) if values else current
        except TomlEditError as exc:
            self.notes.append(f"{source} was not migrated: {path} is {exc}.")
            return
        if new is not None and new != before:
            self.writes[path] = (before, new)
        self.deletes[source] = yaml_text
        self.agents.append(MigratedAgent(source, skill, tuple(written), tuple(dropped)))
        for sentence in dropped:
            self.notes.append(f"{source}: not carried over to {path}: {sentence}.")
