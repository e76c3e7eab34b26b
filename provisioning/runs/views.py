"""Run pages: list, start, detail with a live log, approve and cancel."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render

from projects.permissions import get_project_for_user, require_post_after_lookup, user_can
from projects.presenters import plan_rows
from projects.roles import Perm
from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import services
from provisioning.runs.selectors import run_list_for, run_log_list


def _run(project_slug: str, run_id: int, request: HttpRequest, perm: Perm = Perm.VIEW) -> Run:
    project = get_project_for_user(request.user, project_slug, perm)
    run = project.runs.select_related("project", "manifest_revision").filter(pk=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return run


@login_required
def run_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    kind = kind if kind in RunKind.values else ""
    status = status if status in RunStatus.values else ""
    page = Paginator(run_list_for(project, kind=kind, status=status), 30).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "provisioning/run_list.html",
        {
            "project": project,
            "page": page,
            "kind": kind,
            "status": status,
            "kinds": RunKind.choices,
            "statuses": RunStatus.choices,
            "can_manage": user_can(request.user, project, Perm.MANAGE),
        },
    )


@login_required
@require_post_after_lookup
def run_create(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        kind = RunKind(request.POST.get("kind", ""))
    except ValueError:
        get_project_for_user(request.user, slug)  # outsiders still get 404 first
        # The page only offers valid kinds: anything else is a malformed request.
        return HttpResponseBadRequest(
            "Choose what to run: analyze, provision or upgrade.",
            content_type="text/plain; charset=utf-8",
        )
    project = get_project_for_user(request.user, slug, services.KIND_PERM[kind])
    try:
        run = services.run_create(
            project=project,
            kind=kind,
            actor=request.user,
            target_version=request.POST.get("target_version", "")[:40]
            if kind == RunKind.UPGRADE
            else "",
        )
    except services.RunBusy as exc:
        messages.warning(request, str(exc))
        if exc.active is not None:
            return redirect(exc.active.get_absolute_url())
        return redirect("projects:project-detail", slug=project.slug)
    except services.RunError as exc:
        messages.error(request, str(exc))
        return redirect("projects:project-detail", slug=project.slug)
    return redirect(run.get_absolute_url())


def _detail_context(request: HttpRequest, run: Run) -> dict[str, object]:
    can_approve = user_can(request.user, run.project, Perm.APPROVE)
    rows = plan_rows(run.plan, run.diff)
    return {
        "project": run.project,
        "run": run,
        "plan_rows": rows,
        "review_rows": [row for row in rows if row["needs_review"]],
        "can_retry": run.status in (RunStatus.FAILED, RunStatus.ERRORED)
        and user_can(request.user, run.project, services.KIND_PERM[RunKind(run.kind)]),
        "log": run_log_list(run),
        "can_approve": can_approve,
        "awaiting": run.status == RunStatus.AWAITING_APPROVAL,
        "can_manage": user_can(request.user, run.project, Perm.MANAGE),
    }


@login_required
def run_detail(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = _run(slug, run_id, request)
    return render(request, "provisioning/run_detail.html", _detail_context(request, run))


@login_required
def run_live(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    """HTMX partial polled every 2 s while the run is active: status, log and plan."""
    run = _run(slug, run_id, request)
    waiting_in = request.GET.get("while")
    if waiting_in is not None:
        # The page watches a run that waits for a person: nothing to swap until it
        # moves on, then the whole page reloads (header, plan and all).
        response = HttpResponse(status=204)
        if run.status != waiting_in:
            response = HttpResponse(status=200)
            response["HX-Refresh"] = "true"
        return response
    return render(request, "provisioning/run_detail.html#live", _detail_context(request, run))


@login_required
@require_post_after_lookup
def run_approve(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = _run(slug, run_id, request, Perm.APPROVE)
    try:
        services.run_approve(run=run, actor=request.user)
        messages.success(request, "Approved: the plan is being applied.")
    except services.RunError as exc:
        messages.error(request, str(exc))
    return redirect(run.get_absolute_url())


@login_required
@require_post_after_lookup
def run_cancel(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = _run(slug, run_id, request, Perm.APPROVE)
    try:
        services.run_cancel(run=run, actor=request.user)
        messages.success(request, "Run cancelled.")
    except services.RunError as exc:
        messages.error(request, str(exc))
    return redirect(run.get_absolute_url())
