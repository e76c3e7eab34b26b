"""Discovery pages (platform staff only). Views speak HTTP only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from bmadweb.http import HtmxHttpRequest
from projects.selectors import base_list
from provisioning.discovery import services
from provisioning.discovery.forms import SourceForm
from provisioning.models import ForgeSource


def _staff(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only platform staff discover and register repositories.")


@login_required
@require_http_methods(["GET", "POST"])
def discovery_new(request: HttpRequest) -> HttpResponse:
    _staff(request)
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            source = services.forge_source_create(actor=request.user, **form.cleaned_data)
        except services.DiscoveryError as exc:
            form.add_error("org_url", str(exc))
        else:
            return redirect("discovery:discovery-detail", source_id=source.pk)
    return render(request, "discovery/new.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def discovery_detail(request: HtmxHttpRequest, source_id: int) -> HttpResponse:
    _staff(request)
    source = ForgeSource.objects.filter(pk=source_id).first()
    if source is None:
        raise Http404
    if request.method == "POST" and request.POST.get("action") == "refresh":
        if services.forge_source_list_start(source=source):
            messages.info(request, "Listing the repositories again.")
        return redirect("discovery:discovery-detail", source_id=source.pk)
    if request.method == "POST":
        base = request.POST.get("base", "")
        if not base_list().filter(name=base).exists():
            messages.error(request, "Choose a base manifest.")
            return redirect("discovery:discovery-detail", source_id=source.pk)
        try:
            created, skipped = services.forge_source_register(
                actor=request.user, source=source, paths=request.POST.getlist("repo"), base=base
            )
        except services.DiscoveryError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{len(created)} project(s) registered.")
            for line in skipped:
                messages.warning(request, line)
        return redirect("discovery:discovery-detail", source_id=source.pk)
    # The listing is a job (one forge call per repository to probe): the first visit
    # starts it and the page polls itself until it is done.
    if source.listed_at is None and not source.listing_job:
        services.forge_source_list_start(source=source)
        source.refresh_from_db()
    context = {
        "source": source,
        "rows": services.forge_source_rows(source),
        "listing": bool(source.listing_job),
        "error": source.listing_error,
        "bases": base_list(),
    }
    if request.htmx and request.htmx.target == "listing":
        return render(request, "discovery/detail.html#listing", context)
    return render(request, "discovery/detail.html", context)
