"""Shared base manifests: `extends: [name, ...]` resolved into one effective manifest.

A base manifest is written like a project manifest (`apiVersion`, `project`, `leaders`,
`customizations`, `integrations`, and its own `extends`), except that every `project`
field is optional. Resolution is pure: the caller passes the project text and a lookup
from a base name to its text (the database's latest or pinned revisions, or files for
the command line), and gets the effective `Manifest`, where each entry came from, and
every error positioned in the project text.

Merging, bases first in the order listed, then the manifest itself:

- `project`: field by field (the later one wins);
- `leaders` by id (a leader replaces the base's leader of the same id, specialists
  included), `customizations` by key, `integrations` by workflow;
- an entry that two bases bring from different origins is a conflict unless the
  extending manifest overrides it; a cycle or a missing base is an error.

Errors inside a base are reported at the `extends` entry that brought it in, naming the
base and the line and column inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from provisioning.engine.manifest_checks import validate_document
from provisioning.engine.manifest_rules import format_path
from provisioning.engine.manifest_schema import Manifest, ManifestError, sha256
from provisioning.engine.paths import is_valid_id
from provisioning.engine.yamlsafe import PathKey, Position, YamlDocument, YamlError, load_yaml

BaseLookup = Callable[[str], str | None]
THIS = "this manifest"
MAX_DEPTH = 8
_SECTIONS = ("leaders", "customizations", "integrations", "mcp_servers", "claude_agents")
_KEYED = ("customizations", "mcp_servers")  # mappings by key; the others are lists by id
_SINGULAR = {
    "leaders": "leader",
    "customizations": "customization",
    "integrations": "integration",
    "mcp_servers": "MCP server",
    "claude_agents": "subagent",
}
_KNOWN = {"apiVersion", "project", "extends", *_SECTIONS}
# Flags a base can set for everything below it: once true, no extending manifest turns it
# off (docs/bmad.md#base-manifests).
_STICKY_FLAGS = ("mcp_servers_closed",)
# Stand-ins for required project fields when a base is checked alone.
_BASE_PROJECT = {"name": "base", "bmad_version": ">=0"}


@dataclass(frozen=True, slots=True)
class ResolvedManifest:
    manifest: Manifest | None
    errors: tuple[ManifestError, ...] = ()
    # "project.tools", "leaders/dev-leader", "customizations/bmad-agent-pm",
    # "integrations/bmad-create-prd" -> THIS or the name of the base it came from
    provenance: Mapping[str, str] = field(default_factory=dict)
    bases: tuple[tuple[str, str], ...] = ()  # (name, sha256 of its text), first use order
    effective_sha: str = ""  # the revision id written in lock files
    effective: Mapping[str, Any] = field(default_factory=dict)  # the merged plain value

    @property
    def ok(self) -> bool:
        return self.manifest is not None and not self.errors

    @property
    def base_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.bases)


@dataclass(slots=True)
class _Entry:
    value: Any
    origin: str  # THIS or a base name
    src_path: PathKey | None  # path in the root document (root entries only)


@dataclass(slots=True)
class _Layer:
    project: dict[str, _Entry] = field(default_factory=dict)
    sections: dict[str, dict[str, _Entry]] = field(
        default_factory=lambda: {name: {} for name in _SECTIONS}
    )
    scalars: dict[str, _Entry] = field(default_factory=dict)  # other top-level keys


def _key_of(section: str, item: Any, index: int) -> str:
    by_id = section in ("leaders", "claude_agents")
    if by_id and isinstance(item, dict) and isinstance(item.get("id"), str):
        return str(item["id"])
    if (
        section == "integrations"
        and isinstance(item, dict)
        and isinstance(item.get("workflow"), str)
    ):
        return str(item["workflow"])
    return f"#{index}"


class _Resolver:
    def __init__(self, lookup: BaseLookup) -> None:
        self.lookup = lookup
        self.errors: list[ManifestError] = []
        self.bases: dict[str, str] = {}
        self.cache: dict[str, _Layer | None] = {}

    def error(self, where: Position, path: str, message: str) -> None:
        self.errors.append(ManifestError(where.line, where.column, path, message))

    # -- one document ---------------------------------------------------------------------

    def layer(
        self, doc: YamlDocument, origin: str, stack: tuple[str, ...], anchor: Position | None
    ) -> _Layer:
        """The effective content of `doc` (its parents merged, then itself)."""
        value = doc.value if isinstance(doc.value, dict) else {}
        parents = self.parents(doc, value, origin, stack, anchor)
        own = self.own(value, origin, is_root=anchor is None)
        return self.combine(parents, own, doc, anchor, origin)

    def parents(
        self,
        doc: YamlDocument,
        value: dict[str, Any],
        origin: str,
        stack: tuple[str, ...],
        anchor: Position | None,
    ) -> list[tuple[str, _Layer, Position]]:
        names = value.get("extends", [])
        where_extends = anchor or doc.position(("extends",))
        via = "" if anchor is None else f"base {origin!r}: "
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.error(where_extends, "extends", f"{via}extends must be a list of base names")
            return []
        found: list[tuple[str, _Layer, Position]] = []
        for i, name in enumerate(names):
            where = anchor or doc.position(("extends", i))
            path = "extends" if anchor else f"extends[{i}]"
            if name in names[:i]:
                self.error(where, path, f"{via}the base {name!r} is listed twice")
                continue
            if name in stack or name == origin:
                chain = " → ".join([s for s in (*stack, origin) if s != THIS] + [name])
                self.error(where, path, f"{via}the bases extend each other in a cycle: {chain}")
                continue
            if len(stack) >= MAX_DEPTH:
                self.error(where, path, f"bases are nested deeper than {MAX_DEPTH} levels")
                continue
            sub = self.base(name, where, path, via, (*stack, origin))
            if sub is not None:
                found.append((name, sub, where))
        return found

    def base(
        self, name: str, where: Position, path: str, via: str, stack: tuple[str, ...]
    ) -> _Layer | None:
        if not is_valid_id(name):
            self.error(where, path, f"{via}{name!r} is not a base name (lowercase id)")
            return None
        text = self.lookup(name)
        if text is None:
            self.error(where, path, f"{via}there is no base manifest named {name!r}")
            return None
        self.bases.setdefault(name, sha256(text))
        try:
            doc = load_yaml(text)
        except YamlError as exc:
            self.error(
                where, path, f"base {name!r}, line {exc.line}, column {exc.column}: {exc.message}"
            )
            return None
        if not isinstance(doc.value, dict):
            self.error(where, path, f"base {name!r} must be a mapping")
            return None
        before = len(self.errors)
        for problem in _base_errors(doc):
            self.error(
                where,
                path,
                f"base {name!r}, line {problem.line}, column {problem.column}: "
                f"{problem.path or '(document)'}: {problem.message}",
            )
        if len(self.errors) > before:
            return None
        return self.layer(doc, name, stack, where)

    def own(self, value: dict[str, Any], origin: str, *, is_root: bool) -> _Layer:
        own = _Layer()
        project = value.get("project")
        if isinstance(project, dict):
            for key, item in project.items():
                own.project[key] = _Entry(item, origin, ("project", key) if is_root else None)
        elif is_root and "project" in value:
            own.project["__invalid__"] = _Entry(project, origin, ("project",))
        for key, item in value.items():
            if key not in _KNOWN:
                own.scalars[key] = _Entry(item, origin, (key,) if is_root else None)
        for section in _SECTIONS:
            items = value.get(section)
            if section in _KEYED:
                if isinstance(items, dict):
                    for key, item in items.items():
                        src = (section, key) if is_root else None
                        own.sections[section][key] = _Entry(item, origin, src)
                elif is_root and section in value:
                    own.sections[section]["__invalid__"] = _Entry(items, origin, (section,))
                continue
            if isinstance(items, list):
                for i, item in enumerate(items):
                    key = _key_of(section, item, i)
                    if key in own.sections[section]:
                        key = f"{key}#{i}"  # a duplicate here: the cross-checks name it
                    own.sections[section][key] = _Entry(
                        item, origin, (section, i) if is_root else None
                    )
            elif is_root and section in value:
                own.sections[section]["__invalid__"] = _Entry(items, origin, (section,))
        return own

    def combine(
        self,
        parents: list[tuple[str, _Layer, Position]],
        own: _Layer,
        doc: YamlDocument,
        anchor: Position | None,
        origin: str,
    ) -> _Layer:
        merged = _Layer()
        for name, parent, where in parents:
            for key, entry in parent.project.items():
                merged.project[key] = entry
            for section in _SECTIONS:
                target = merged.sections[section]
                for key, entry in parent.sections[section].items():
                    previous = target.get(key)
                    if (
                        previous is not None
                        and previous.origin != entry.origin
                        and key not in own.sections[section]
                    ):
                        via = "" if anchor is None else f"base {origin!r}: "
                        self.error(
                            where,
                            "extends",
                            f"{via}the {_SINGULAR[section]} {key!r} comes from both base "
                            f"{previous.origin!r} and base {entry.origin!r}; override it in "
                            "the extending manifest or remove it from one base",
                        )
                        continue
                    target[key] = entry
            del name
        merged.project.update(own.project)
        for section in _SECTIONS:
            merged.sections[section].update(own.sections[section])
        for _name, parent, _where in parents:
            merged.scalars.update(parent.scalars)
        for key, entry in own.scalars.items():
            inherited = merged.scalars.get(key)
            if key in _STICKY_FLAGS and inherited is not None and inherited.value is True:
                continue  # a base closed it: it stays closed
            merged.scalars[key] = entry
        return merged


def _base_errors(doc: YamlDocument) -> tuple[ManifestError, ...]:
    """A base checked alone: a manifest whose `project` fields are all optional."""
    value = dict(doc.value)
    value.pop("extends", None)
    project = value.get("project", {})
    if isinstance(project, dict):
        value["project"] = {**_BASE_PROJECT, **project}
    checked = YamlDocument(value=value, values=doc.values, keys=doc.keys, raw=doc.raw)
    return tuple(validate_document(checked))


_TABLES = ("values", "keys", "raw")


class _Positions:
    """The root document's position tables grouped by each path's first key, read once:
    copying a subtree then reads only the paths under its first key, not every path of
    the document for every entry (which made a large manifest's resolution quadratic)."""

    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.groups: dict[str, dict[PathKey, list[tuple[PathKey, Any]]]] = {}
        for table_name in _TABLES:
            grouped: dict[PathKey, list[tuple[PathKey, Any]]] = {}
            for path, item in getattr(doc, table_name).items():
                grouped.setdefault(path[:1], []).append((path, item))
            self.groups[table_name] = grouped

    def copy(self, dst: YamlDocument, old: PathKey, new: PathKey) -> None:
        """Every position under `old` in the root, re-keyed under `new` in `dst`."""
        size = len(old)
        for table_name in _TABLES:
            dst_table: dict[PathKey, Any] = getattr(dst, table_name)
            if size:
                pairs: Any = self.groups[table_name].get(old[:1], ())
            else:
                pairs = getattr(self.doc, table_name).items()
            for path, item in pairs:
                if path[:size] == old:
                    dst_table[new + path[size:]] = item


def _assemble(
    layer: _Layer, root: YamlDocument, base_anchor: Position
) -> tuple[YamlDocument, dict[str, str], dict[PathKey, str]]:
    """The merged plain value, with positions re-keyed to it; base entries point at the
    `extends` key of the root document."""
    root_value = root.value if isinstance(root.value, dict) else {}
    positions = _Positions(root)
    value: dict[str, Any] = {}
    if "apiVersion" in root_value:
        value["apiVersion"] = root_value["apiVersion"]
    merged = YamlDocument(value=value)
    positions.copy(merged, ("apiVersion",), ("apiVersion",))
    merged.values[()] = Position(1, 1)
    provenance: dict[str, str] = {}
    from_base: dict[PathKey, str] = {}
    if "__invalid__" in layer.project:
        value["project"] = layer.project["__invalid__"].value
        positions.copy(merged, ("project",), ("project",))
    elif layer.project or "project" in root_value:
        value["project"] = {}
        positions.copy(merged, ("project",), ("project",))
        for key, entry in layer.project.items():
            value["project"][key] = entry.value
            provenance[f"project.{key}"] = entry.origin
            _place(entry, positions, merged, ("project", key), base_anchor, from_base)
    for section in _SECTIONS:
        entries = layer.sections[section]
        if not entries:
            continue
        if "__invalid__" in entries:
            value[section] = entries["__invalid__"].value
            positions.copy(merged, (section,), (section,))
            continue
        positions.copy(merged, (section,), (section,))
        if section in _KEYED:
            value[section] = {}
            for key, entry in entries.items():
                value[section][key] = entry.value
                provenance[f"{section}/{key}"] = entry.origin
                _place(entry, positions, merged, (section, key), base_anchor, from_base)
                if entry.src_path is None:
                    merged.keys[(section, key)] = base_anchor
        else:
            value[section] = []
            for index, (key, entry) in enumerate(entries.items()):
                value[section].append(entry.value)
                provenance[f"{section}/{key.split('#')[0] or key}"] = entry.origin
                _place(entry, positions, merged, (section, index), base_anchor, from_base)
    for key, entry in layer.scalars.items():
        value[key] = entry.value
        provenance[key] = entry.origin
        _place(entry, positions, merged, (key,), base_anchor, from_base)
    return merged, provenance, from_base


def _place(
    entry: _Entry,
    positions: _Positions,
    merged: YamlDocument,
    new: PathKey,
    base_anchor: Position,
    from_base: dict[PathKey, str],
) -> None:
    if entry.src_path is not None:
        positions.copy(merged, entry.src_path, new)
    else:
        merged.values[new] = base_anchor
        from_base[new] = entry.origin


def _origin_note(path: str, from_base: dict[PathKey, str]) -> str:
    for key, origin in from_base.items():
        prefix = format_path(key)
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return f" (from base {origin!r})"
    return ""


# Results that are a function of the text alone (valid, no base used), by text: every
# run of a fleet's drift checks resolves the same few manifests (docs/performance.md).
_PLAIN: dict[str, ResolvedManifest] = {}
_PLAIN_MAX = 256  # results kept; texts over _PLAIN_TEXT_MAX characters are not kept
_PLAIN_TEXT_MAX = 64 * 1024


def resolve_manifest(text: str, lookup: BaseLookup | None = None) -> ResolvedManifest:
    """Load `text` and resolve its `extends`; never raises for bad input.

    Without `extends` the result is that of `load_manifest` and `effective_sha` is the
    text's own SHA-256, so lock files written before bases existed stay valid. A valid
    result that used no base never asked `lookup`: it is kept (read-only) for the text.
    """
    known = _PLAIN.get(text)
    if known is not None:
        return known
    resolved = _resolve(text, lookup)
    if resolved.ok and not resolved.bases and len(text) <= _PLAIN_TEXT_MAX:
        if len(_PLAIN) >= _PLAIN_MAX:
            _PLAIN.clear()
        _PLAIN[text] = resolved
    return resolved


def _resolve(text: str, lookup: BaseLookup | None) -> ResolvedManifest:
    try:
        doc = load_yaml(text)
    except YamlError as exc:
        return ResolvedManifest(None, (ManifestError(exc.line, exc.column, "", exc.message),))
    resolver = _Resolver(lookup or (lambda _name: None))
    layer = resolver.layer(doc, THIS, (), None)
    extends_at = doc.position(("extends",), prefer_key=True)
    merged, provenance, from_base = _assemble(layer, doc, extends_at)
    errors = list(resolver.errors)
    for problem in validate_document(merged):
        note = _origin_note(problem.path, from_base)
        errors.append(
            ManifestError(problem.line, problem.column, problem.path, problem.message + note)
        )
    unique = tuple(sorted(dict.fromkeys(errors), key=lambda e: (e.line, e.column, e.path)))
    bases = tuple(resolver.bases.items())
    if bases:
        joined = "\n".join([sha256(text), *(f"{name} {digest}" for name, digest in bases)])
        effective_sha = sha256(joined)
    else:
        effective_sha = sha256(text)
    if unique:
        return ResolvedManifest(None, unique, provenance, bases, effective_sha, merged.value)
    manifest = Manifest.model_validate(merged.value)
    return ResolvedManifest(manifest, (), provenance, bases, effective_sha, merged.value)


def check_base(name: str, text: str, lookup: BaseLookup | None = None) -> tuple[ManifestError, ...]:
    """Every error of a base manifest's text, positioned in it: its own fields, then its
    `extends` (missing bases, cycles through `name`, conflicts between its bases)."""
    try:
        doc = load_yaml(text)
    except YamlError as exc:
        return (ManifestError(exc.line, exc.column, "", exc.message),)
    if not isinstance(doc.value, dict):
        return (ManifestError(1, 1, "", "a base manifest must be a mapping"),)
    errors = list(_base_errors(doc))
    if not errors:
        resolver = _Resolver(
            lambda other: text if other == name else (lookup or (lambda _n: None))(other)
        )
        resolver.layer(doc, name, (), None)
        errors += resolver.errors
    return tuple(sorted(dict.fromkeys(errors), key=lambda e: (e.line, e.column, e.path)))


def effective_yaml(resolved: ResolvedManifest) -> str:
    """The effective manifest as YAML, for display (bases merged, `extends` gone)."""
    if not resolved.effective:
        return ""
    return str(yaml.safe_dump(dict(resolved.effective), sort_keys=False, allow_unicode=True))


def extends_of(text: str) -> tuple[str, ...]:
    """The base names a text lists directly (empty when it cannot be read)."""
    try:
        value = load_yaml(text).value
    except YamlError:
        return ()
    names = value.get("extends") if isinstance(value, dict) else None
    if isinstance(names, list):
        return tuple(n for n in names if isinstance(n, str))
    return ()
