"""The manifest editor: live validation, preview, save, history and compare."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control

from projects import forms, services
from projects.models import Project
from projects.permissions import (
    get_project_for_user,
    methods_after_lookup,
    require_post_after_lookup,
    user_can,
)
from projects.presenters import side_by_side
from projects.roles import Perm
from projects.selectors import manifest_latest, manifest_resolve, revision_get
from provisioning.engine.extends import ResolvedManifest, effective_yaml
from provisioning.engine.manifest import manifest_json_schema
from provisioning.engine.starter import starter_manifest
from provisioning.project_status import preview_files, report_run_latest

MAX_MANIFEST = 256 * 1024


def _starter(project: Project) -> tuple[str, bool]:
    """The text a project without a manifest starts from, and whether it was built from
    the installed modules and tools (after an analysis: the install audit)."""
    run = report_run_latest(project)
    bmad = run.report.get("bmad") if run is not None and isinstance(run.report, dict) else None
    if not isinstance(bmad, dict) or bmad.get("generation") in (None, "", "none"):
        return starter_manifest(name=project.slug), False
    text = starter_manifest(
        name=project.slug,
        version=bmad.get("version"),
        modules=[str(m) for m in bmad.get("modules") or []],
        tools=[str(t) for t in bmad.get("tools") or []],
    )
    return text, True


def _errors_of(text: str) -> list[dict[str, object]]:
    if len(text.encode("utf-8")) > MAX_MANIFEST:
        return [
            {
                "line": 1,
                "column": 1,
                "path": "",
                "message": "The manifest is larger than 256 KiB; split it or trim it.",
            }
        ]
    return [
        {"line": e.line, "column": e.column, "path": e.path, "message": e.message}
        for e in manifest_resolve(text).errors
    ]


@login_required
@methods_after_lookup("GET", "POST")
def manifest_edit(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    latest = manifest_latest(project)
    can_edit = user_can(request.user, project, Perm.EDIT_MANIFEST)
    starter, from_install = ("", False) if latest else _starter(project)
    effective = _effective(manifest_resolve(latest.yaml_text)) if latest else {}
    initial = {"yaml_text": latest.yaml_text if latest else starter}
    form = forms.ManifestForm(request.POST or None, initial=initial)
    errors: list[dict[str, object]] = []
    status = 200
    if request.method == "POST":
        project = get_project_for_user(request.user, slug, Perm.EDIT_MANIFEST)
        if form.is_valid():
            try:
                revision = services.manifest_save(
                    actor=request.user,
                    project=project,
                    yaml_text=form.cleaned_data["yaml_text"],
                    message=form.cleaned_data["message"],
                )
            except services.ManifestInvalid as exc:
                errors = [
                    {"line": e.line, "column": e.column, "path": e.path, "message": e.message}
                    for e in exc.errors
                ]
            except services.ManifestConflict as exc:
                messages.error(request, str(exc))
                status = 409
            else:
                messages.success(
                    request,
                    f"Saved revision {revision.number}. Run an analysis to see what it changes.",
                )
                return redirect("projects:project-detail", slug=project.slug)
    return render(
        request,
        "projects/manifest_edit.html",
        {
            "project": project,
            "form": form,
            "latest": latest,
            "errors": errors,
            "can_edit": can_edit,
            "checked": request.method == "POST",
            "from_install": from_install,
            "can_analyze": user_can(request.user, project, Perm.ANALYZE),
            "can_manage": user_can(request.user, project, Perm.MANAGE),
            "tab": "manifest",
            **effective,
        },
        status=status,
    )


@login_required
@require_post_after_lookup
def manifest_restore(request: HttpRequest, slug: str) -> HttpResponse:
    """Save an older revision's text as the newest revision."""
    project = get_project_for_user(request.user, slug, Perm.EDIT_MANIFEST)
    try:
        number = int(request.POST.get("revision", ""))
    except ValueError:
        number = 0
    revision = revision_get(project, number) if 0 < number < 2**31 else None
    if revision is None:
        messages.error(request, "Choose a revision to restore.")
        return redirect("projects:manifest-history", slug=project.slug)
    try:
        saved = services.manifest_save(
            actor=request.user,
            project=project,
            yaml_text=revision.yaml_text,
            message=f"Restore revision {revision.number}",
        )
    except services.ManifestInvalid:
        messages.error(
            request,
            f"Revision {revision.number} is no longer valid under today's rules; open it in "
            "the editor, fix it and save.",
        )
        return redirect("projects:manifest-history", slug=project.slug)
    if saved.number == revision.number:
        messages.info(request, f"Revision {revision.number} is already the newest.")
    else:
        messages.success(
            request,
            f"Revision {revision.number} restored as revision {saved.number}. Run an analysis "
            "to see what it changes.",
        )
    return redirect("projects:manifest-history", slug=project.slug)


@login_required
@require_post_after_lookup
def manifest_validate(request: HttpRequest, slug: str) -> HttpResponse:
    """HTMX partial: every error of the text being typed, with line and column."""
    project = get_project_for_user(request.user, slug)
    errors = _errors_of(request.POST.get("yaml_text", ""))
    return render(
        request,
        "projects/manifest_edit.html#errors",
        {"project": project, "errors": errors, "checked": True},
    )


@login_required
@require_post_after_lookup
def manifest_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """HTMX partial: the files the manifest would generate for this repository."""
    project = get_project_for_user(request.user, slug)
    text = request.POST.get("yaml_text", "")
    result = manifest_resolve(text) if len(text) <= MAX_MANIFEST else None
    report_run = report_run_latest(project)
    files: list[dict[str, str]] = []
    notes = ["Fix the errors above to see a preview."]
    if result is not None and result.manifest is not None:
        files, notes = preview_files(result.manifest, report_run.report if report_run else None)
    return render(
        request,
        "projects/manifest_edit.html#preview",
        {"project": project, "files": files, "notes": notes, **_effective(result)},
    )


def _effective(result: ResolvedManifest | None) -> dict[str, object]:
    """The effective manifest and where each entry came from, when bases are involved."""
    if result is None or result.manifest is None or not result.bases:
        return {}
    origins = sorted(result.provenance.items())
    return {"effective": effective_yaml(result), "origins": origins, "bases": result.bases}


@login_required
def manifest_history(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    revisions = list(project.revisions.order_by("-number")[:200])
    return render(
        request,
        "projects/manifest_history.html",
        {
            "project": project,
            "revisions": revisions,
            "can_edit": user_can(request.user, project, Perm.EDIT_MANIFEST),
            "can_manage": user_can(request.user, project, Perm.MANAGE),
            "tab": "manifest",
        },
    )


@login_required
def manifest_compare(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    try:
        a, b = int(request.GET.get("a", "")), int(request.GET.get("b", ""))
    except ValueError:
        raise Http404("Choose two revisions to compare.") from None
    if not (0 < a < 2**31 and 0 < b < 2**31):
        raise Http404("No such revision.")
    left, right = revision_get(project, a), revision_get(project, b)
    if left is None or right is None:
        raise Http404("No such revision.")
    return render(
        request,
        "projects/manifest_compare.html",
        {
            "project": project,
            "left": left,
            "right": right,
            "rows": side_by_side(left.yaml_text, right.yaml_text),
            "can_edit": user_can(request.user, project, Perm.EDIT_MANIFEST),
            "can_manage": user_can(request.user, project, Perm.MANAGE),
            "tab": "manifest",
        },
    )


@cache_control(public=True, max_age=3600)
def manifest_schema(request: HttpRequest) -> HttpResponse:
    """The manifest's JSON Schema, public so editors can validate against its URL."""
    response = JsonResponse(manifest_json_schema(), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = 'inline; filename="bmadweb-manifest-v1.schema.json"'
    return response
