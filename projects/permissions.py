"""The one lookup helper every view uses to reach a project (STYLE.md point 6).

No view permission → 404 (the project's existence is not revealed); view but not the
needed permission → 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import Http404

from projects.models import Project
from projects.roles import Perm

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def get_project_for_user(user: User | AnonymousUser, slug: str, perm: Perm = Perm.VIEW) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None or not user.has_perm(f"projects.{Perm.VIEW}", project):
        raise Http404("No such project.")
    if perm is not Perm.VIEW and not user.has_perm(f"projects.{perm}", project):
        raise PermissionDenied(f"You need the {perm.replace('_', ' ')} permission here.")
    return project


def user_can(user: User | AnonymousUser, project: Project, perm: Perm) -> bool:
    return bool(user.has_perm(f"projects.{perm}", project))
