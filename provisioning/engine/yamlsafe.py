"""Hardened YAML loading for manifests (docs/security.md#s10).

The document is checked as a stream of parser events *before* any Python object is
built: a byte cap, no anchors or aliases (alias bombs blow up only on traversal), no tags
at all (so no `!!python/...`), bounded depth and node count. The tree is then built from
the same events with duplicate mapping keys refused. Plain scalars resolve only to
str/int/float/bool/None; every value remembers where it came from, so later schema errors
can name a line and a column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.resolver import Resolver

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 10_000

_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = Resolver()
_TAG = "tag:yaml.org,2002:"

PathKey = tuple[str | int, ...]


class YamlError(ValueError):
    """A refused or malformed document; line and column are 1-based."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(slots=True)
class YamlDocument:
    """The loaded value plus where each part of it was written."""

    value: Any
    # path -> position of the value; for mapping entries also the key's position
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)
    # path -> the scalar exactly as written, for messages like "quote it: 'no'"
    raw: dict[PathKey, str] = field(default_factory=dict)

    def position(self, path: PathKey, *, prefer_key: bool = False) -> Position:
        """Best known position for `path`, falling back to the nearest ancestor."""
        for end in range(len(path), -1, -1):
            sub = path[:end]
            if prefer_key and sub in self.keys:
                return self.keys[sub]
            if sub in self.values:
                return self.values[sub]
            if sub in self.keys:
                return self.keys[sub]
        return Position(1, 1)


def _pos(event: Any) -> Position:
    mark = event.start_mark
    return Position(mark.line + 1, mark.column + 1)


def _fail(message: str, event: Any) -> YamlError:
    where = _pos(event)
    return YamlError(message, where.line, where.column)


def _checked_events(text: str) -> Iterator[Any]:
    """Yield parser events, refusing hostile constructs as soon as they appear."""
    depth = 0
    nodes = 0
    try:
        for event in yaml.parse(text, Loader=_Parser):
            if isinstance(event, yaml.AliasEvent):
                raise _fail("aliases (*name) are not allowed in manifests", event)
            if isinstance(event, yaml.NodeEvent):
                if event.anchor is not None:
                    raise _fail("anchors (&name) are not allowed in manifests", event)
                tag = getattr(event, "tag", None)
                if tag is not None:
                    raise _fail(f"YAML tags such as {tag!r} are not allowed", event)
                nodes += 1
                if nodes > MAX_NODES:
                    raise _fail(f"the document has more than {MAX_NODES} nodes", event)
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _fail(f"the document is nested deeper than {MAX_DEPTH} levels", event)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            yield event
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlError(f"invalid YAML: {exc.problem or exc.context}", line, col) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from None


def _scalar(event: Any) -> Any:
    """Resolve a scalar to str/int/float/bool/None only (never timestamps, sets...)."""
    value: str = event.value
    if event.style or not event.implicit[0]:  # quoted or block scalars are always text
        return value
    tag = _RESOLVER.resolve(yaml.ScalarNode, value, event.implicit)
    kind = tag.removeprefix(_TAG)
    if kind == "null":
        return None
    if kind == "bool":
        return value.lower() in ("yes", "true", "on", "y")
    if kind == "int":
        return _int(value)
    if kind == "float":
        return _float(value)
    return value


def _int(value: str) -> Any:
    text = value.replace("_", "")
    try:
        if text.lower().lstrip("+-").startswith("0x"):
            return int(text, 16)
        if text.lower().lstrip("+-").startswith("0o"):
            return int(text, 8)
        return int(text, 10)
    except ValueError:
        return value  # sexagesimal and other YAML 1.1 oddities stay text


def _float(value: str) -> Any:
    text = value.replace("_", "").lower()
    if text in (".nan",):
        return float("nan")
    if text.lstrip("+-") == ".inf":
        return float("-inf") if text.startswith("-") else float("inf")
    try:
        return float(text)
    except ValueError:
        return value


class _Builder:
    """Builds plain Python values from checked events, recording positions."""

    def __init__(self, events: Iterator[Any], doc: YamlDocument) -> None:
        self._events = events
        self._doc = doc

    def node(self, event: Any, path: PathKey) -> Any:
        self._doc.values[path] = _pos(event)
        if isinstance(event, yaml.ScalarEvent):
            self._doc.raw[path] = event.value
            return _scalar(event)
        if isinstance(event, yaml.SequenceStartEvent):
            return self._sequence(path)
        return self._mapping(path)

    def _sequence(self, path: PathKey) -> list[Any]:
        items: list[Any] = []
        for event in self._events:
            if isinstance(event, yaml.SequenceEndEvent):
                return items
            items.append(self.node(event, (*path, len(items))))
        raise YamlError("unexpected end of document")  # pragma: no cover - parser prevents

    def _mapping(self, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for event in self._events:
            if isinstance(event, yaml.MappingEndEvent):
                return result
            if not isinstance(event, yaml.ScalarEvent):
                raise _fail("mapping keys must be plain text", event)
            key = event.value
            if key in result:
                first = self._doc.keys[(*path, key)]
                raise _fail(f"duplicate key {key!r} (first defined on line {first.line})", event)
            self._doc.keys[(*path, key)] = _pos(event)
            result[key] = self.node(next(self._events), (*path, key))
        raise YamlError("unexpected end of document")  # pragma: no cover - parser prevents


def load_yaml(text: str) -> YamlDocument:
    """Load one YAML document safely, or raise YamlError with a 1-based position."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError(f"the document is larger than {MAX_BYTES // 1024} KiB")
    doc = YamlDocument(value=None)
    events = _checked_events(text)
    builder = _Builder(events, doc)
    documents = 0
    for event in events:
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _fail("only one YAML document is allowed (found a second '---')", event)
        elif isinstance(event, yaml.NodeEvent):
            doc.value = builder.node(event, ())
    return doc
