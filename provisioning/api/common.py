"""Helpers shared by the API routers: the acting user, project lookup, paging, shapes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from projects.permissions import get_project_for_user
from projects.roles import Perm
from provisioning.api.schemas import PageQuery

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from bmadweb.models import ApiToken
    from projects.models import ManifestRevision, Project
    from provisioning.models import Run

_SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,64}")


def api_user(request: HttpRequest) -> User:
    """The person the bearer token acts for (never the session's user)."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    return token.user


def project_for(request: HttpRequest, slug: str, perm: Perm = Perm.VIEW) -> Project:
    """The one project lookup, as in the UI: outsider → 404, missing permission → 403."""
    if not _SLUG_RE.fullmatch(slug):
        raise Http404("No such project.")
    return get_project_for_user(api_user(request), slug, perm)


def page[M: Model](
    queryset: QuerySet[M], query: PageQuery, shape: Callable[[M], Any] = lambda obj: obj
) -> dict[str, Any]:
    """One page of `queryset` with its total count, each item passed through `shape`."""
    items = queryset[query.offset : query.offset + query.limit]
    return {
        "count": queryset.count(),
        "limit": query.limit,
        "offset": query.offset,
        "items": [shape(obj) for obj in items],
    }


def revision_dict(revision: ManifestRevision, *, with_yaml: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "number": revision.number,
        "sha256": revision.sha256,
        "author": revision.author_name,
        "message": revision.message,
        "created": revision.created,
    }
    if with_yaml:
        data["yaml"] = revision.yaml_text
    return data


def run_dict(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "kind": run.kind,
        "status": run.status,
        "trigger": run.trigger,
        "actor": run.actor_name,
        "created": run.created,
        "started": run.started,
        "finished": run.finished,
        "needs_approval": run.needs_approval,
        "manifest_revision": run.manifest_revision.number if run.manifest_revision else None,
        "target_version": run.target_version,
        "branch": run.branch,
        "commit_sha": run.commit_sha,
        "pr_url": run.pr_url,
        "failure_reason": run.failure_reason,
    }
