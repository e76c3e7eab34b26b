"""Loading a manifest: hardened YAML, then the schema, then the cross-field rules.

`load_manifest(text)` never raises on bad input: it returns either a `Manifest` or every
error at once, each with the line and column where it was written (through the position
map kept by `yamlsafe`), a path such as `leaders[0].specialists[1].id` and a plain
sentence. The schema's public names are re-exported here, where callers find them.
"""

from __future__ import annotations

from pydantic import ValidationError

from provisioning.engine.manifest_checks import validate_document
from provisioning.engine.manifest_schema import (
    API_VERSION,
    SCHEMA_ID,
    ClaudeAgent,
    Customization,
    Integration,
    Leader,
    Manifest,
    ManifestError,
    ManifestResult,
    McpServer,
    MenuItem,
    Project,
    Specialist,
    manifest_json_schema,
    sha256,
)
from provisioning.engine.yamlsafe import YamlError, load_yaml

__all__ = [
    "API_VERSION",
    "SCHEMA_ID",
    "ClaudeAgent",
    "Customization",
    "Integration",
    "Leader",
    "Manifest",
    "ManifestError",
    "ManifestResult",
    "McpServer",
    "MenuItem",
    "Project",
    "Specialist",
    "load_manifest",
    "manifest_json_schema",
    "sha256",
]


def load_manifest(text: str) -> ManifestResult:
    """Parse and validate manifest text; never raises for bad input."""
    try:
        doc = load_yaml(text)
    except YamlError as exc:
        return ManifestResult(None, (ManifestError(exc.line, exc.column, "", exc.message),))
    try:
        errors = validate_document(doc)
        if errors:
            return ManifestResult(None, errors)
        return ManifestResult(Manifest.model_validate(doc.value))
    except ValidationError as exc:  # pragma: no cover - validate_document saw it first
        return ManifestResult(None, (ManifestError(1, 1, "", str(exc)),))
