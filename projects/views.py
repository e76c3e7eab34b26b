"""Project pages. Views speak HTTP only: parse, call a selector or service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from projects.permissions import get_project_for_user
from projects.selectors import manifest_latest, project_list_for_user


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = project_list_for_user(request.user)
    query = request.GET.get("q", "").strip()[:100]
    if query:
        projects = projects.filter(name__icontains=query) | projects.filter(slug__icontains=query)
    return render(request, "projects/project_list.html", {"projects": projects, "query": query})


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return render(
        request,
        "projects/project_detail.html",
        {"project": project, "manifest": manifest_latest(project)},
    )
