"""Base manifests: staff keep them here (and in the admin); every save is a new revision."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from projects import services
from projects.selectors import base_get, base_impact, base_list, base_revision_latest
from provisioning.engine.paths import is_valid_id

BASE_STARTER = """\
apiVersion: bmadweb/v1
leaders:
  - id: security-leader
    name: Security Leader
    domain: security
"""


def _staff(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only platform staff keep base manifests.")


@login_required
@require_http_methods(["GET"])
def base_index(request: HttpRequest) -> HttpResponse:
    _staff(request)
    name = request.GET.get("name", "").strip()
    if name:
        if is_valid_id(name):
            return redirect("projects:base-edit", name=name)
        messages.error(request, "A base name is a lowercase id: letters, digits and hyphens.")
    return render(request, "projects/base_list.html", {"bases": base_list()})


@login_required
@require_http_methods(["GET", "POST"])
def base_edit(request: HttpRequest, name: str) -> HttpResponse:
    """GET: the latest text and the projects using it. POST `check`: which projects the
    new text would change. POST `save`: a new revision."""
    _staff(request)
    if not is_valid_id(name):
        raise Http404("No such base manifest.")
    base = base_get(name)
    latest = base_revision_latest(base) if base else None
    text = request.POST.get("yaml_text", latest.yaml_text if latest else BASE_STARTER)
    errors: tuple[object, ...] = ()
    impact = base_impact(name, text if request.method == "POST" else None)
    if request.method == "POST" and request.POST.get("action") == "save":
        try:
            revision = services.base_save(
                actor=request.user,
                name=name,
                yaml_text=text,
                message=request.POST.get("message", ""),
                description=request.POST.get("description", ""),
            )
        except services.ManifestInvalid as exc:
            errors = exc.errors
        else:
            messages.success(request, f"Saved {name} r{revision.number}.")
            return redirect("projects:base-edit", name=name)
    return render(
        request,
        "projects/base_edit.html",
        {
            "name": name,
            "base": base,
            "latest": latest,
            "text": text,
            "errors": errors,
            "impact": impact,
            "checked": request.method == "POST",
            "revisions": base.revisions.all()[:20] if base else [],
        },
    )
