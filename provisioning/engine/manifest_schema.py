"""Manifest schema v1 as frozen pydantic models (docs/architecture.md#the-engine).

Ids and versions must be written as text: `id: no` or `bmad_version: 1.10` are errors,
never silently turned into `False` or `1.1`.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from provisioning.engine.bmad_names import reserved_id_problem
from provisioning.engine.manifest_mcp import ClaudeAgent, McpServer, ServerName
from provisioning.engine.manifest_rules import cross_check_errors, format_path
from provisioning.engine.paths import ID_PATTERN, ID_RE, is_valid_id
from provisioning.engine.types import KNOWN_TOOLS

API_VERSION = "bmadweb/v1"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
SCHEMA_ID = "https://bmadweb.dev/schemas/manifest-v1.json"


def _check_id(value: str) -> str:
    if ID_RE.fullmatch(value) and not is_valid_id(value):
        raise ValueError(f"{value!r} is a reserved device name on Windows; choose another id")
    if not is_valid_id(value):
        raise ValueError(
            "must be 1-63 lowercase ASCII letters, digits or hyphens, starting with a "
            "letter or digit"
        )
    return value


def _check_own_id(value: str) -> str:
    """Ids of bmadweb's own skills stay out of BMAD's names (docs/bmad.md#bmad-judges)."""
    problem = reserved_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("must fit on one line")
    return _check_text(value)


def _check_text(value: str) -> str:
    if _CONTROL_RE.search(value):
        raise ValueError("must not contain control or bidirectional-override characters")
    return value


MAX_SPECIFIER_LENGTH = 100
MAX_VERSION_DIGITS = 9
_DIGIT_RUN = re.compile(r"[0-9]+")


def _check_specifier(value: str) -> str:
    """A version range that validates also evaluates: bounded in length and in the digits
    of each number (a 5,000-digit number parses, then fails to compare in the run)."""
    if not value.strip():
        raise ValueError("must not be empty; write e.g. '>=6.4,<7'")
    if len(value) > MAX_SPECIFIER_LENGTH:
        raise ValueError(f"must be at most {MAX_SPECIFIER_LENGTH} characters")
    if any(len(run) > MAX_VERSION_DIGITS for run in _DIGIT_RUN.findall(value)):
        raise ValueError(f"version numbers may have at most {MAX_VERSION_DIGITS} digits each")
    try:
        SpecifierSet(value).contains(Version("0"), prereleases=True)
    except (InvalidSpecifier, ValueError):
        raise ValueError(
            f"{value!r} is not a version range; write e.g. '>=6.4,<7' or '==6.12.0'"
        ) from None
    return value


def _check_tool(value: str) -> str:
    if value not in KNOWN_TOOLS:
        close = difflib.get_close_matches(value, KNOWN_TOOLS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown tool {value!r}{hint}; tools are BMAD's platform codes, the values of "
            f"its installer's --tools: {', '.join(KNOWN_TOOLS)}"
        )
    return value


def _id_schema() -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": ID_PATTERN})


Id = Annotated[str, Strict(), AfterValidator(_check_id), _id_schema()]
# A leader's or specialist's id: also the folder name of a skill bmadweb writes.
OwnId = Annotated[
    str,
    Strict(),
    AfterValidator(_check_id),
    AfterValidator(_check_own_id),
    WithJsonSchema({"type": "string", "pattern": ID_PATTERN, "not": {"pattern": "^bmad"}}),
]
Line = Annotated[str, Strict(), Field(min_length=1, max_length=200), AfterValidator(_check_line)]
Text = Annotated[str, Strict(), Field(max_length=4000), AfterValidator(_check_text)]
VersionRange = Annotated[
    str, Strict(), AfterValidator(_check_specifier), WithJsonSchema({"type": "string"})
]
Tool = Annotated[
    str,
    Strict(),
    AfterValidator(_check_tool),
    WithJsonSchema({"type": "string", "enum": list(KNOWN_TOOLS)}),
]
Phase = Literal["analysis", "planning", "solutioning", "implementation", "quick-flow"]
Texts = tuple[Text, ...]

_MODEL = ConfigDict(frozen=True, extra="forbid")


class Project(BaseModel):
    model_config = _MODEL

    name: Line
    bmad_version: VersionRange
    modules: tuple[Id, ...] = ()
    tools: tuple[Tool, ...] = ()


class Specialist(BaseModel):
    model_config = _MODEL

    id: OwnId
    name: Line
    domain: Line
    skills: tuple[Line, ...] = ()
    compliance_notes: Text | None = None


class Leader(BaseModel):
    model_config = _MODEL

    id: OwnId
    name: Line
    domain: Line
    phase: Phase | None = None
    description: Text = ""
    specialists: tuple[Specialist, ...] = ()


class MenuItem(BaseModel):
    model_config = _MODEL

    code: Annotated[str, Strict(), Field(min_length=1, max_length=16), AfterValidator(_check_line)]
    description: Line
    skill: Id | None = None
    prompt: Text | None = None


class Customization(BaseModel):
    """Overrides of one BMAD skill (keys of BMAD's customize.toml)."""

    model_config = _MODEL

    persistent_facts: Texts = ()
    principles: Texts = ()
    activation_steps_prepend: Texts = ()
    activation_steps_append: Texts = ()
    communication_style: Text | None = None
    role: Text | None = None
    identity: Text | None = None
    icon: Annotated[str, Strict(), Field(max_length=8), AfterValidator(_check_line)] | None = None
    menu: tuple[MenuItem, ...] = ()
    on_complete: Text | None = None

    @property
    def is_agent(self) -> bool:
        """Agent persona keys make this an `[agent]` override; else it is `[workflow]`."""
        persona = (self.principles, self.menu)
        scalars = (self.communication_style, self.role, self.identity, self.icon)
        return any(persona) or any(value is not None for value in scalars)


class Integration(BaseModel):
    model_config = _MODEL

    workflow: Id
    phase: Phase | None = None
    activation_steps_append: Texts = ()
    activation_steps_prepend: Texts = ()
    persistent_facts: Texts = ()


class Manifest(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"$id": SCHEMA_ID, "title": "bmadweb manifest v1"},
        hide_input_in_errors=True,  # a refused manifest may hold a secret: never echo it
    )

    api_version: Literal["bmadweb/v1"] = Field(alias="apiVersion")
    project: Project
    leaders: tuple[Leader, ...] = ()
    customizations: dict[Id, Customization] = Field(default_factory=dict)
    integrations: tuple[Integration, ...] = ()
    mcp_servers: dict[ServerName, McpServer] = Field(default_factory=dict)
    mcp_servers_closed: Annotated[bool, Strict()] = False
    claude_agents: tuple[ClaudeAgent, ...] = ()

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Manifest:
        if info.context and info.context.get("skip_cross_checks"):
            return self  # load_manifest reports these itself, with positions
        problems = cross_check_errors(self.model_dump(by_alias=True))
        if problems:
            path, message = problems[0]
            raise ValueError(f"{format_path(path)}: {message}")
        return self

    def all_agents(self) -> list[Leader | Specialist]:
        """Leaders and specialists in manifest order (leader before its specialists)."""
        found: list[Leader | Specialist] = []
        for leader in self.leaders:
            found.append(leader)
            found.extend(leader.specialists)
        return found


@dataclass(frozen=True, slots=True)
class ManifestError:
    line: int
    column: int
    path: str  # e.g. "leaders[0].specialists[1].id"; "" for the whole document
    message: str  # a plain sentence


@dataclass(frozen=True, slots=True)
class ManifestResult:
    manifest: Manifest | None
    errors: tuple[ManifestError, ...] = ()

    @property
    def ok(self) -> bool:
        return self.manifest is not None and not self.errors


def sha256(text: str) -> str:
    """Hex SHA-256 of the manifest text as UTF-8 (the revision id in lock files)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def manifest_json_schema() -> dict[str, Any]:
    """The published JSON Schema of manifest v1."""
    schema = Manifest.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "bmadweb manifest v1"
    return schema
