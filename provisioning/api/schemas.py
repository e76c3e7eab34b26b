"""Request and response schemas of the REST API (django-ninja / pydantic).

Inputs forbid unknown fields and bound every string, so hostile bodies get a 4xx that
says what is wrong. Outputs are plain and typed; they never carry credentials.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, field_validator, model_validator

from provisioning.models import RunKind, RunStatus

MANIFEST_MAX_BYTES = 256 * 1024
# The body may be JSON-escaped, so the text field allows more characters than the byte
# cap; the handler then checks the exact UTF-8 size and answers 413.
_YAML_MAX_CHARS = 2 * MANIFEST_MAX_BYTES

RunKindName = Literal["analyze", "provision", "upgrade"]
RunStatusName = Literal[
    "queued",
    "running",
    "awaiting_approval",
    "applying",
    "pushed",
    "no_changes",
    "needs_attention",
    "succeeded",
    "failed",
    "errored",
    "cancelled",
]
assert set(RunKindName.__args__) == set(RunKind.values)  # type: ignore[attr-defined]
assert set(RunStatusName.__args__) == set(RunStatus.values)  # type: ignore[attr-defined]


def _utf8_text(value: str) -> str:
    """Refuse lone surrogates (valid JSON escapes, invalid text) and NUL bytes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class _Input(Schema):
    model_config = ConfigDict(extra="forbid")


# --- Errors ------------------------------------------------------------------------------


class ErrorOut(Schema):
    """Every error answer: a plain sentence, and for invalid input the list of problems
    (manifest errors carry line, column, path and message)."""

    detail: str
    errors: list[dict[str, Any]] | None = None


class BusyOut(Schema):
    detail: str
    active_run_id: int | None = None


def responses(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    """A response map for an operation: its success schemas plus ErrorOut for `codes`."""
    return {**ok, **{code: ErrorOut for code in codes}}


# --- Projects ----------------------------------------------------------------------------


class ProjectOut(Schema):
    slug: str
    name: str
    repo_url: str
    default_branch: str
    forge_kind: str
    push_mode: str
    require_approval: bool
    upgrades_skip_approval: bool
    sync_status: str
    bmad_version: str
    bmad_generation: str
    last_analyzed_at: datetime | None
    last_push_at: datetime | None
    last_push_sha: str
    created_at: datetime


class ProjectPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[ProjectOut]


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=200, description="Items per page (1-200).")
    offset: int = Field(0, ge=0, le=10_000_000, description="Items to skip.")


# --- Manifests ---------------------------------------------------------------------------


class RevisionOut(Schema):
    number: int
    sha256: str
    author: str = Field(..., description="Username of the author ('' for the system).")
    message: str
    created: datetime


class ManifestOut(RevisionOut):
    yaml: str


class RevisionPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[RevisionOut]


class ManifestValidateIn(_Input):
    yaml: str = Field(..., max_length=_YAML_MAX_CHARS, description="Manifest YAML (256 KiB max).")

    _text = field_validator("yaml")(_utf8_text)


class ManifestSaveIn(ManifestValidateIn):
    message: str = Field("", max_length=200, description="Why this revision (one line).")

    @field_validator("message")
    @classmethod
    def _one_line(cls, value: str) -> str:
        value = _utf8_text(value)
        if any(ch in value for ch in "\r\n") or any(ord(ch) < 32 for ch in value):
            raise ValueError("must be one line without control characters")
        return value


class ManifestErrorOut(Schema):
    line: int
    column: int
    path: str
    message: str


class ValidationOut(Schema):
    valid: bool
    errors: list[ManifestErrorOut]


# --- Runs --------------------------------------------------------------------------------


class RunCreateIn(_Input):
    # An upgrade needs target_version; the document says so (JSON Schema if/then), and
    # the validator below holds it. Other kinds ignore it.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"kind": {"const": "upgrade"}}, "required": ["kind"]},
            "then": {
                "required": ["target_version"],
                "properties": {"target_version": {"type": "string"}},
            },
        }
    )

    kind: RunKindName
    target_version: str | None = Field(
        None,
        max_length=40,
        pattern=r"^\d{1,4}\.\d{1,4}\.\d{1,4}(-[0-9A-Za-z][0-9A-Za-z.]{0,30})?$",
        description="upgrade runs (required there): the exact BMAD version, e.g. 6.12.0",
    )

    @model_validator(mode="after")
    def _upgrade_has_a_version(self) -> RunCreateIn:
        if self.kind == "upgrade" and not self.target_version:
            raise ValueError("an upgrade run needs target_version, e.g. 6.12.0")
        return self


class RunQuery(PageQuery):
    kind: RunKindName | None = None
    status: RunStatusName | None = None


class RunOut(Schema):
    id: int
    kind: str
    status: str
    trigger: str
    actor: str
    created: datetime
    started: datetime | None
    finished: datetime | None
    needs_approval: bool
    manifest_revision: int | None
    target_version: str
    branch: str
    commit_sha: str
    pr_url: str
    failure_reason: str


class RunPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[RunOut]


class PlanOperationOut(Schema):
    path: str
    action: str
    reason: str
    state: str | None = None


class PlanConflictOut(Schema):
    path: str
    reason: str
    keys: list[str] = []  # TOML files: the key paths both sides changed differently


class PlanSummaryOut(Schema):
    requires_approval: bool
    change_count: int
    operations: list[PlanOperationOut]
    conflicts: list[PlanConflictOut]
    notes: list[str]


class LogEntryOut(Schema):
    at: datetime
    level: str
    message: str


class RunDetailOut(RunOut):
    base_sha: str
    approved_by: str
    approved_at: datetime | None
    attempts: int
    plan: PlanSummaryOut | None
    diff: str
    log: list[LogEntryOut]


# --- Reports and skills ------------------------------------------------------------------


class FindingOut(Schema):
    code: str
    severity: str
    title: str
    explanation: str = ""
    recommendation: str = ""
    fixable: bool = False
    paths: list[str] = []


class ItemOut(Schema):
    path: str
    state: str
    kind: str
    reason: str = ""
    unsafe: bool = False


class BmadInstallOut(Schema):
    generation: str | None = None
    version: str | None = None
    modules: list[str] = []
    tools: list[str] = []
    bmad_dir: str | None = None
    customization_style: str | None = None


class McpServerOut(Schema):
    name: str
    declared: bool
    allowed: bool = Field(..., description="False for a server a closed list does not allow.")
    state: str = Field(
        ...,
        description="bmadweb's entry for it: up-to-date, modified, missing or conflict; "
        "'unmanaged' for a server the manifest does not declare.",
    )
    paths: list[str] = Field(..., description="The MCP configuration files that hold it.")


class SubagentOut(Schema):
    id: str
    declared: bool
    present: bool
    state: str
    path: str


class ToolingOut(Schema):
    mcp_servers_closed: bool
    mcp_configs: list[str]
    mcp_servers: list[McpServerOut]
    subagents: list[SubagentOut]


class ReportOut(Schema):
    run_id: int
    run_kind: str
    analysed_at: datetime | None
    status: str | None
    bmad: BmadInstallOut
    counts: dict[str, int]
    findings: list[FindingOut]
    items: list[ItemOut]
    notes: list[str]
    tooling: ToolingOut | None = Field(
        None,
        description="Claude Code subagents and MCP servers, declared versus present "
        "(absent from reports made before they were analysed).",
    )


class SkillOut(Schema):
    id: str
    kind: Literal["leader", "specialist", "customization", "installed", "subagent", "mcp-server"]
    declared: bool
    installed: bool
    state: str = Field(
        ...,
        description="Worst state of the skill's files in the latest report, "
        "or 'not-analysed' when the project has no report yet; 'unmanaged' for a "
        "subagent or MCP server present in the repository that bmadweb does not manage.",
    )
    paths: list[str]
    allowed: bool | None = Field(
        None,
        description="MCP servers: false for one a closed list (mcp_servers_closed) "
        "does not allow; null for the other kinds.",
    )


class SkillsOut(Schema):
    report_run_id: int | None
    manifest_revision: int | None
    skills: list[SkillOut]


class WorkflowOut(Schema):
    kind: str
    name: str
    description: str
    permission: str
    token_scope: str
