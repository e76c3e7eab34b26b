"""Read-side queries for projects. Lists never leak projects through global permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from projects.models import ManifestRevision, Membership, Project
from projects.roles import Perm, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def project_list_for_user(
    user: User | AnonymousUser, *, perm: Perm = Perm.VIEW
) -> QuerySet[Project]:
    """Projects `user` holds `perm` on, through their own or their teams' roles.

    Superusers see every project; a global (model-level) permission grants nothing here.
    """
    if not user.is_authenticated:
        return Project.objects.none()
    return get_objects_for_user(
        user, f"projects.{perm}", klass=Project, accept_global_perms=False
    ).order_by("name")


def manifest_latest(project: Project) -> ManifestRevision | None:
    return project.revisions.order_by("-number").first()


def members_of(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user", "group").order_by("role", "id")


def roles_of_user(project: Project, user: User) -> set[Role]:
    """Roles `user` holds on `project`, directly or through one of their groups."""
    rows = Membership.objects.filter(
        Q(user=user) | Q(group__in=user.groups.all()),
        project=project,
    ).values_list("role", flat=True)
    return {Role(r) for r in rows}
