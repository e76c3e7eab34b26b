"""Read-side queries for projects. Lists never leak projects through global permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from projects.models import ManifestRevision, Membership, Project
from projects.roles import Perm

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


def dashboard_projects(
    user: User | AnonymousUser, *, query: str = "", status: str = ""
) -> QuerySet[Project]:
    """Permitted projects with their last run annotated, in a constant number of queries
    whatever the number of projects."""
    from django.db.models import OuterRef, Subquery

    from provisioning.models import Run

    last_run = Run.objects.filter(project=OuterRef("pk")).order_by("-created")
    projects = project_list_for_user(user)
    if query:
        projects = projects.filter(
            Q(name__icontains=query) | Q(slug__icontains=query) | Q(repo_url__icontains=query)
        )
    if status:
        projects = projects.filter(sync_status=status)
    return projects.annotate(
        last_run_id=Subquery(last_run.values("pk")[:1]),
        last_run_kind=Subquery(last_run.values("kind")[:1]),
        last_run_status=Subquery(last_run.values("status")[:1]),
        last_run_created=Subquery(last_run.values("created")[:1]),
    )


def revision_get(project: Project, number: int) -> ManifestRevision | None:
    return project.revisions.filter(number=number).first()
