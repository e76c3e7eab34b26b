"""The one lookup helper every view uses to reach a project (docs/architecture.md#views).

No view permission → 404 (the project's existence is not revealed); view but not the
needed permission → 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from guardian.core import ObjectPermissionChecker

from projects.models import Project
from projects.roles import Perm

View = Callable[..., HttpResponse]

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def get_project_for_user(user: User | AnonymousUser, slug: str, perm: Perm = Perm.VIEW) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None or not user.has_perm(f"projects.{Perm.VIEW}", project):
        raise Http404("No such project.")
    if perm is not Perm.VIEW and not user.has_perm(f"projects.{perm}", project):
        raise PermissionDenied(f"You need the {perm.replace('_', ' ')} permission here.")
    return project


def project_perms_for(user: User | AnonymousUser, project: Project) -> frozenset[Perm]:
    """Every permission `user` holds on `project`, in two queries (their own and their
    teams' grants): what `user.has_perm` answers, where each answer costs those two
    queries again. Inactive users hold none and active superusers all, as there."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Perm)
    held = set(ObjectPermissionChecker(user).get_perms(project))
    return frozenset(perm for perm in Perm if str(perm) in held)


def get_project_and_perms_for_user(
    user: User | AnonymousUser, slug: str
) -> tuple[Project, frozenset[Perm]]:
    """`get_project_for_user` for a page that asks several permissions: the project and
    every permission the user holds on it (docs/performance.md#pages)."""
    project = Project.objects.filter(slug=slug).first()
    perms = project_perms_for(user, project) if project is not None else frozenset()
    if project is None or Perm.VIEW not in perms:
        raise Http404("No such project.")
    return project, perms


REGISTER_PERM = "projects.add_project"
PROJECT_CREATORS_GROUP = "Project creators"


def can_register_projects(user: User | AnonymousUser) -> bool:
    """Who may register repositories: staff, and whoever platform owners granted the
    "add project" permission (directly, or through the "Project creators" group)."""
    if not user.is_authenticated:
        return False
    return bool(user.is_staff or user.has_perm(REGISTER_PERM))


def user_can(user: User | AnonymousUser, project: Project, perm: Perm) -> bool:
    return bool(user.has_perm(f"projects.{perm}", project))


def methods_after_lookup(*methods: str) -> Callable[[View], View]:
    """`require_http_methods` for views under /p/<slug>/, checked after the project lookup.

    Someone who cannot see the project gets 404 whatever the method, so a 405 never tells
    them that the project exists (docs/security.md#s22); members get the usual 405.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                get_project_for_user(request.user, slug)
                return HttpResponseNotAllowed(list(methods))
            return view(request, slug, *args, **kwargs)

        return wrapper

    return decorate


require_post_after_lookup = methods_after_lookup("POST")
