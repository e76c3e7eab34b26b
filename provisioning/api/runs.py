"""API routes for runs (create, list, detail, approve, cancel) and the run kinds."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import Http404, HttpRequest
from ninja import Path, Query, Router, Status

from projects.roles import Perm
from provisioning.api.auth import READ, RUN
from provisioning.api.common import api_user, page, project_for, run_dict
from provisioning.api.schemas import (
    BusyOut,
    RunCreateIn,
    RunDetailOut,
    RunOut,
    RunPage,
    RunQuery,
    WorkflowOut,
    responses,
)
from provisioning.models import Run, RunKind, RunTrigger
from provisioning.runs import services
from provisioning.runs.selectors import run_list_for, run_log_list

router = Router(tags=["runs"])

RunId = Annotated[int, Path(ge=1, le=2**53, description="The run's number.")]

# The run kinds ("workflows") a client can start, what each does and what it needs.
WORKFLOWS = [
    {
        "kind": RunKind.ANALYZE.value,
        "name": "Analyze",
        "description": "Read-only gap analysis: clone the repository, compare its BMAD "
        "install with the manifest and record the report. Never writes.",
        "permission": "analyze_project (editor, operator, owner)",
        "token_scope": "run",
    },
    {
        "kind": RunKind.PROVISION.value,
        "name": "Provision",
        "description": "Plan the file operations that bring the repository in line with "
        "the manifest, wait for approval when needed, then commit on a branch, push and "
        "open or update a pull/merge request.",
        "permission": "provision_project (operator, owner); approve_run to approve",
        "token_scope": "run",
    },
    {
        "kind": RunKind.UPGRADE.value,
        "name": "Upgrade",
        "description": "Run BMAD's official installer for target_version (an exact version) "
        "in a sandbox, migrate 6.0-6.3 customizations to 6.4+ overrides, save and re-offer "
        "hand edits to installer files, apply the manifest again, then commit everything on "
        "a branch and open a pull/merge request. Waits for approval unless the project "
        "skips it for upgrades.",
        "permission": "provision_project (operator, owner); approve_run to approve",
        "token_scope": "run",
    },
]


class RunConflict(Exception):
    """A run request refused because of the run's or project's state (409)."""

    def __init__(self, message: str, active_run_id: int | None = None) -> None:
        self.active_run_id = active_run_id
        super().__init__(message)


class RunRefused(Exception):
    """A run request that cannot be honoured as asked (422), e.g. no manifest yet."""


def _run_or_404(project: Any, run_id: int) -> Run:
    run = (
        Run.objects.select_related("project", "approved_by", "manifest_revision")
        .filter(project=project, pk=run_id)
        .first()
    )
    if run is None:
        raise Http404("No such run in this project.")
    return run


def _detail(run: Run) -> dict[str, Any]:
    plan = run.plan if isinstance(run.plan, dict) else None
    return {
        **run_dict(run),
        "base_sha": run.base_sha,
        "approved_by": run.approved_by.get_username() if run.approved_by else "",
        "approved_at": run.approved_at,
        "attempts": run.attempts,
        "plan": plan,
        "diff": run.diff,
        "log": run_log_list(run),
    }


@router.get("/workflows", response=responses({200: list[WorkflowOut]}, 401, 403, 429), auth=READ)
def workflow_list(request: HttpRequest) -> list[dict[str, str]]:
    """The kinds of run ("workflows") and what each needs."""
    return WORKFLOWS


@router.get(
    "/projects/{slug}/runs",
    response=responses({200: RunPage}, 401, 403, 404, 422, 429),
    auth=READ,
)
def run_list(request: HttpRequest, slug: str, query: Query[RunQuery]) -> dict[str, Any]:
    """The project's runs, newest first, optionally filtered by kind and status."""
    project = project_for(request, slug)
    runs = run_list_for(project, kind=query.kind, status=query.status)
    runs = runs.select_related("manifest_revision")
    return page(runs, query, run_dict)


@router.post(
    "/projects/{slug}/runs",
    response=responses({201: RunOut, 409: BusyOut}, 400, 401, 403, 404, 422, 429),
    auth=RUN,
)
def run_create(request: HttpRequest, slug: str, body: RunCreateIn) -> Status[dict[str, Any]]:
    """Start an analyze (needs analyze_project), provision or upgrade run (both need
    provision_project; an upgrade also needs target_version). A project with an active run
    answers 409 with that run's id."""
    kind = RunKind(body.kind)
    project = project_for(request, slug, services.KIND_PERM[kind])
    try:
        run = services.run_create(
            project=project,
            kind=kind,
            actor=api_user(request),
            trigger=RunTrigger.API,
            target_version=(body.target_version or "") if kind == RunKind.UPGRADE else "",
        )
    except services.RunBusy as exc:
        raise RunConflict(str(exc), exc.active.pk if exc.active else None) from None
    except services.RunError as exc:
        raise RunRefused(str(exc)) from None
    return Status(201, run_dict(run))


@router.get(
    "/projects/{slug}/runs/{run_id}",
    response=responses({200: RunDetailOut}, 401, 403, 404, 422, 429),
    auth=READ,
)
def run_detail(request: HttpRequest, slug: str, run_id: RunId) -> dict[str, Any]:
    """A run with its timings, plan summary, diff, branch, commit, link and log."""
    return _detail(_run_or_404(project_for(request, slug), run_id))


@router.post(
    "/projects/{slug}/runs/{run_id}/approve",
    response=responses({200: RunDetailOut, 409: BusyOut}, 401, 403, 404, 422, 429),
    auth=RUN,
)
def run_approve(request: HttpRequest, slug: str, run_id: RunId) -> dict[str, Any]:
    """Approve a plan that awaits approval; it is then applied."""
    run = _run_or_404(project_for(request, slug, Perm.APPROVE), run_id)
    try:
        run = services.run_approve(run=run, actor=api_user(request))
    except services.RunError as exc:
        raise RunConflict(str(exc)) from None
    return _detail(run)


@router.post(
    "/projects/{slug}/runs/{run_id}/cancel",
    response=responses({200: RunDetailOut, 409: BusyOut}, 401, 403, 404, 422, 429),
    auth=RUN,
)
def run_cancel(request: HttpRequest, slug: str, run_id: RunId) -> dict[str, Any]:
    """Cancel a run that is queued or awaiting approval."""
    run = _run_or_404(project_for(request, slug, Perm.APPROVE), run_id)
    try:
        run = services.run_cancel(run=run, actor=api_user(request))
    except services.RunError as exc:
        raise RunConflict(str(exc)) from None
    return _detail(run)
