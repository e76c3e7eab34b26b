"""API routes for projects, manifests, gap reports and BMAD skills."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Query, Router, Status

from projects.roles import Perm
from projects.selectors import manifest_resolve, project_list_for_user
from projects.services import ManifestConflict, manifest_save
from provisioning.api import reads
from provisioning.api.auth import READ, WRITE
from provisioning.api.common import api_user, page, project_for, revision_dict
from provisioning.api.schemas import (
    MANIFEST_MAX_BYTES,
    ManifestOut,
    ManifestSaveIn,
    ManifestValidateIn,
    PageQuery,
    ProjectOut,
    ProjectPage,
    ReportOut,
    RevisionPage,
    SkillsOut,
    ValidationOut,
    responses,
)
from provisioning.engine.manifest import ManifestError
from provisioning.project_status import skills_for
from provisioning.runs.selectors import report_run_latest

router = Router(tags=["projects"])


class ManifestTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(
            f"The manifest is {size} bytes; the limit is {MANIFEST_MAX_BYTES} bytes (256 KiB)."
        )


class ManifestRejected(Exception):
    def __init__(self, errors: tuple[ManifestError, ...]) -> None:
        self.errors = [_error_dict(e) for e in errors]
        super().__init__(f"The manifest has {len(errors)} error(s); nothing was saved.")


def _error_dict(error: ManifestError) -> dict[str, Any]:
    return {
        "line": error.line,
        "column": error.column,
        "path": error.path,
        "message": error.message,
    }


def _checked_size(text: str) -> str:
    size = len(text.encode("utf-8"))
    if size > MANIFEST_MAX_BYTES:
        raise ManifestTooLarge(size)
    return text


@router.get("/projects", response=responses({200: ProjectPage}, 401, 403, 422, 429), auth=READ)
def project_list(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    """Projects the token's user may view, by name."""
    return page(project_list_for_user(api_user(request)), query)


@router.get(
    "/projects/{slug}", response=responses({200: ProjectOut}, 401, 403, 404, 429), auth=READ
)
def project_detail(request: HttpRequest, slug: str) -> Any:
    return project_for(request, slug)


@router.get(
    "/projects/{slug}/manifest",
    response=responses({200: ManifestOut}, 401, 403, 404, 429),
    auth=READ,
)
def manifest_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    """The latest manifest revision, with its YAML."""
    revision, _ = reads.latest_manifest(project_for(request, slug))
    if revision is None:
        raise Http404("This project has no manifest yet.")
    return revision_dict(revision, with_yaml=True)


@router.get(
    "/projects/{slug}/manifest/revisions",
    response=responses({200: RevisionPage}, 401, 403, 404, 422, 429),
    auth=READ,
)
def manifest_revisions(request: HttpRequest, slug: str, query: Query[PageQuery]) -> dict[str, Any]:
    """Every revision, newest first (without the YAML)."""
    project = project_for(request, slug)
    return page(reads.revisions_for_project(project), query, revision_dict)


@router.post(
    "/projects/{slug}/manifest/validate",
    response=responses({200: ValidationOut}, 400, 401, 403, 404, 413, 422, 429),
    auth=WRITE,
)
def manifest_validate(request: HttpRequest, slug: str, body: ManifestValidateIn) -> dict[str, Any]:
    """Validate a manifest without saving it: every error with line and column."""
    project_for(request, slug)
    result = manifest_resolve(_checked_size(body.yaml))
    return {"valid": result.ok, "errors": [_error_dict(e) for e in result.errors]}


@router.put(
    "/projects/{slug}/manifest",
    response=responses(
        {200: ManifestOut, 201: ManifestOut}, 400, 401, 403, 404, 409, 413, 422, 429
    ),
    auth=WRITE,
)
def manifest_put(request: HttpRequest, slug: str, body: ManifestSaveIn) -> Status[dict[str, Any]]:
    """Save a new revision (201), or 200 with the latest one when the text is unchanged.
    An invalid manifest is refused with every error (422) and nothing is saved; 409 when
    a save at the same moment took the revision number (send it again)."""
    project = project_for(request, slug, Perm.EDIT_MANIFEST)
    result = manifest_resolve(_checked_size(body.yaml))
    if not result.ok:
        raise ManifestRejected(result.errors)
    previous, _ = reads.latest_manifest(project)
    revision = manifest_save(
        actor=api_user(request), project=project, yaml_text=body.yaml, message=body.message
    )
    created = previous is None or revision.pk != previous.pk
    return Status(201 if created else 200, revision_dict(revision, with_yaml=True))


@router.get(
    "/projects/{slug}/report", response=responses({200: ReportOut}, 401, 403, 404, 429), auth=READ
)
def report_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    """The gap report of the latest finished analyze or provision run."""
    run = report_run_latest(project_for(request, slug))
    if run is None or not isinstance(run.report, dict):
        raise Http404("This project has not been analysed yet: start an analyze run first.")
    report: dict[str, Any] = run.report
    return {
        "run_id": run.pk,
        "run_kind": run.kind,
        "analysed_at": run.finished,
        "status": report.get("status"),
        "bmad": report.get("bmad") or {},
        "counts": report.get("counts") or {},
        "findings": report.get("findings") or [],
        "items": report.get("items") or [],
        "notes": report.get("notes") or [],
        "tooling": report.get("tooling"),
    }


@router.get(
    "/projects/{slug}/skills", response=responses({200: SkillsOut}, 401, 403, 404, 429), auth=READ
)
def skills_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    """BMAD agents and skills of the project: declared in the latest manifest and/or seen
    installed by the latest report, each with the state of its files."""
    project = project_for(request, slug)
    revision, manifest = reads.latest_manifest(project)
    rows, run = skills_for(project, manifest)
    return {
        "report_run_id": run.pk if run is not None else None,
        "manifest_revision": revision.number if revision is not None else None,
        "skills": [row.__dict__ for row in rows],
    }


__all__ = ["ManifestConflict"]
