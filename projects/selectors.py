"""Read-side queries for projects. Lists never leak projects through global permissions."""

from __future__ import annotations

from dataclasses import dataclass
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

    from bmadweb.models import AuditRecord

AUDIT_PAGE_SIZE = 50


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


# --- Audit records ------------------------------------------------------------------
# The one reader of an audit payload: the project's audit page, the platform's audit log
# (bmadweb.selectors, which sits above this app) and the admin all decrypt through it.


def audit_payload_read(record: AuditRecord) -> tuple[dict[str, Any] | None, str]:
    """The decrypted payload of `record`, or None and why it cannot be read (a
    secret-free phrase: edited or foreign ciphertext, or a key no longer configured)."""
    try:
        return audit_payload(record), ""
    except crypto.CryptoError as exc:
        return None, str(exc) or "cannot decrypt"


@dataclass(frozen=True)
class AuditRow:
    record: AuditRecord
    payload: dict[str, Any]


def audit_page_for_project(
    project: Project, *, page: str | int | None
) -> tuple[Page[Any], list[AuditRow]]:
    """One page of `project`'s audit records, newest first, payloads decrypted (the
    caller has checked the manage permission)."""
    current = Paginator(project.audit_records.order_by("-seq"), AUDIT_PAGE_SIZE).get_page(page)
    rows = []
    for record in current.object_list:
        payload, _reason = audit_payload_read(record)
        if payload is None:
            payload = {"error": "cannot decrypt this payload"}
        rows.append(AuditRow(record, payload))
    return current, rows
