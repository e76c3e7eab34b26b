"""Turn manifest validation problems into positioned, plain-sentence errors.

Pydantic reports locations as tuples; `yamlsafe` remembers where each tuple was
written. Checks that span the whole manifest (unique ids, duplicate tools) run on the
raw loaded value so that they are reported together with schema errors, all at once.
"""

from __future__ import annotations

import difflib
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from provisioning.engine.manifest_rules import cross_check_errors, format_path
from provisioning.engine.manifest_schema import Manifest, ManifestError
from provisioning.engine.yamlsafe import PathKey, YamlDocument

_KIND_NAMES = {bool: "a yes/no value", int: "a number", float: "a number", type(None): "empty"}


def _message(error: Any, doc: YamlDocument, path: PathKey) -> str:
    kind = error["type"]
    if kind == "string_type":
        return _string_type_message(doc, path)
    if kind == "missing":
        return f"the field {path[-1]!r} is required"
    if kind == "extra_forbidden":
        return _unknown_field_message(error["loc"])
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping of keys to values"
    if kind == "bool_type":
        return "must be true or false"
    if kind == "literal_error":
        return f"must be one of: {error['ctx']['expected']}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {error['ctx']['max_length']} characters long"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return str(error["msg"])


def _string_type_message(doc: YamlDocument, path: PathKey) -> str:
    raw = doc.raw.get(path)
    value = _lookup(doc.value, path)
    what = _KIND_NAMES.get(type(value), "not text")
    if raw is None or value is None:
        return f"must be text (found {what})"
    return f'must be text, but YAML reads {raw!r} as {what}; put it in quotes: "{raw}"'


def _unknown_field_message(loc: tuple[Any, ...]) -> str:
    name = str(loc[-1])
    known = _fields_at(loc[:-1])
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown field {name!r}{hint}"


def _fields_at(loc: tuple[Any, ...]) -> set[str]:
    """Field names (aliases) of the model found at `loc`, for "did you mean" hints."""
    model: type[BaseModel] | None = Manifest
    skip_key = False
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if skip_key:
            skip_key = False
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return set()
        skip_key = get_origin(field.annotation) is dict
        model = _model_in(field.annotation)
    if model is None:
        return set()
    return {f.alias or n for n, f in model.model_fields.items()}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _lookup(value: Any, path: PathKey) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def validate_document(doc: YamlDocument) -> tuple[Any, ...]:
    """Every schema and cross-check error of a loaded document, positioned and sorted."""
    errors: list[ManifestError] = []
    try:
        Manifest.model_validate(doc.value, context={"skip_cross_checks": True})
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            is_key = bool(loc) and loc[-1] == "[key]"
            path = loc[:-1] if is_key else loc
            where = doc.position(path, prefer_key=is_key or error["type"] == "extra_forbidden")
            message = _message(error, doc, path)
            if is_key:
                message = f"the key {path[-1]!r} {message}"
            errors.append(ManifestError(where.line, where.column, format_path(path), message))
    for path, message in cross_check_errors(doc.value):
        where = doc.position(path)
        errors.append(ManifestError(where.line, where.column, format_path(path), message))
    unique = dict.fromkeys(errors)
    return tuple(sorted(unique, key=lambda e: (e.line, e.column, e.path)))
