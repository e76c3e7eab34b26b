"""Read-side queries for projects. Lists never leak projects through global permissions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from bmadweb import crypto
from bmadweb.audit import audit_payload
from bmadweb.labels import closed_label
from projects.models import ManifestRevision, Membership, Project, SyncStatus
from projects.roles import Perm
from provisioning.project_status import last_run_annotations

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


def project_ids_user_can(
    user: User | AnonymousUser, perm: Perm, project_ids: Iterable[int]
) -> set[int]:
    """Which of `project_ids` the user holds `perm` on (one query, for a page of rows)."""
    ids = list(project_ids)
    if not user.is_authenticated or not ids:
        return set()
    allowed = get_objects_for_user(
        user,
        f"projects.{perm}",
        klass=Project.objects.filter(pk__in=ids),
        accept_global_perms=False,
    )
    return set(allowed.values_list("pk", flat=True))


def manifest_latest(project: Project) -> ManifestRevision | None:
    return project.revisions.order_by("-number").first()


def membership_list_for(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user", "group").order_by("role", "id")


def project_list_for_dashboard(
    user: User | AnonymousUser, *, query: str = "", status: str = ""
) -> QuerySet[Project]:
    """Permitted projects with their last run annotated, in a constant number of queries
    whatever the number of projects."""
    projects = project_list_for_user(user)
    if query:
        projects = projects.filter(
            Q(name__icontains=query) | Q(slug__icontains=query) | Q(repo_url__icontains=query)
        )
    if status:
        projects = projects.filter(sync_status=status)
    return projects.annotate(**last_run_annotations())


def revision_get(project: Project, number: int) -> ManifestRevision | None:
    return project.revisions.filter(number=number).first()


def project_count_by_sync_status() -> dict[str, int]:
    counts = dict.fromkeys(SyncStatus.values, 0)
    rows = Project.objects.order_by().values_list("sync_status").annotate(n=Count("pk"))
    for status, n in rows:
        key = closed_label(status, SyncStatus.values)
        counts[key] = counts.get(key, 0) + n
    return counts


AUDIT_PAGE_SIZE = 50


def audit_actor_names_for(project: Project) -> list[str]:
    """The names that acted on the project, for the audit tab's filter."""
    names = project.audit_records.order_by().values_list("actor_name", flat=True).distinct()
    return sorted({name for name in names if name})


def audit_page_for(
    project: Project, *, action: str = "", actor: str = "", page: str | None = None
) -> tuple[Page[Any], list[dict[str, Any]]]:
    """A page of the project's audit records, newest first, with their payloads;
    `action` filters by prefix ("run."), `actor` by name ("-" for bmadweb itself)."""
    records = project.audit_records.order_by("-seq")
    if action:
        records = records.filter(action__startswith=action)
    if actor == "-":
        records = records.filter(actor_name="")
    elif actor:
        records = records.filter(actor_name=actor)
    current = Paginator(records, AUDIT_PAGE_SIZE).get_page(page)
    rows = []
    for record in current.object_list:
        try:
            payload: dict[str, Any] = audit_payload(record)
        except crypto.CryptoError:
            payload = {"error": "cannot decrypt this payload"}
        rows.append({"record": record, "payload": payload})
    return current, rows
