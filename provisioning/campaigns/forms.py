"""Choosing a campaign's projects: by text, sync status, BMAD version, base manifest, or all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from projects.roles import Perm
from projects.selectors import base_impact, project_list_for_user

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from projects.models import Project

FILTERS = ("q", "status", "bmad_version", "base")


def select_projects(
    user: User | AnonymousUser, data: Mapping[str, Any], perm: Perm
) -> tuple[list[Project], dict[str, str]]:
    """The projects `user` holds `perm` on that match the filters (none given: all)."""
    filters = {key: str(data.get(key, "")).strip() for key in FILTERS}
    projects = project_list_for_user(user, perm=perm)
    if filters["q"]:
        projects = projects.filter(name__icontains=filters["q"]) | projects.filter(
            slug__icontains=filters["q"]
        )
    if filters["status"]:
        projects = projects.filter(sync_status=filters["status"])
    if filters["bmad_version"]:
        projects = projects.filter(bmad_version__startswith=filters["bmad_version"])
    found = list(projects.order_by("name"))
    if filters["base"]:
        using = {row.project.pk for row in base_impact(filters["base"])}
        found = [p for p in found if p.pk in using]
    return found, {k: v for k, v in filters.items() if v}
