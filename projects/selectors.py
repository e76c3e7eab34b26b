"""Read-side queries for projects. Lists never leak projects through global permissions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery

from bmadweb import crypto
from bmadweb.audit import StoredRecord, audit_payload, stored_payload, stored_records
from bmadweb.labels import closed_label
from projects.audit_sentences import audit_sentence
from projects.grants import ProjectGranted
from projects.models import (
    BaseManifest,
    BaseManifestRevision,
    ManifestRevision,
    Membership,
    Project,
    SyncStatus,
)
from projects.roles import Perm
from provisioning.engine.extends import BaseLookup, ResolvedManifest, extends_of, resolve_manifest
from provisioning.project_status import last_run_annotations

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from bmadweb.models import AuditRecord

AUDIT_PAGE_SIZE = 50


def project_filter_for(
    user: User | AnonymousUser, perm: Perm = Perm.VIEW, *, field: str = "pk", per_row: bool = False
) -> Q:
    """Rows whose project (`field`: "pk" on a project, "project_id" on a row that names
    one) `user` holds `perm` on, through their own or their teams' guardian object
    permissions: what guardian's `get_objects_for_user` grants without global permissions,
    as one SQL expression (projects.grants): a set of the permitted projects read once,
    or with `per_row` a probe of guardian's indexes per row, for a query over a few rows
    (docs/performance.md#pages). Superusers pass everywhere; anonymous users nowhere."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    return Q(ProjectGranted(field, user_id=user.pk, codename=str(perm), per_row=per_row))


def project_list_for_user(
    user: User | AnonymousUser, *, perm: Perm = Perm.VIEW
) -> QuerySet[Project]:
    """Projects `user` holds `perm` on, through their own or their teams' roles.

    Superusers see every project; a global (model-level) permission grants nothing here.
    """
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(project_filter_for(user, perm)).order_by("name", "pk")


def project_ids_user_can(
    user: User | AnonymousUser, perm: Perm, project_ids: Iterable[int]
) -> set[int]:
    """Which of `project_ids` the user holds `perm` on (one query, for a page of rows)."""
    ids = list(project_ids)
    if not user.is_authenticated or not ids:
        return set()
    allowed = Project.objects.filter(project_filter_for(user, perm, per_row=True), pk__in=ids)
    return set(allowed.values_list("pk", flat=True))


def manifest_latest(project: Project) -> ManifestRevision | None:
    return project.revisions.order_by("-number").first()


def manifests_latest(project_ids: Iterable[int]) -> dict[int, ManifestRevision]:
    """The newest manifest revision of each project that has one, in one query."""
    newest = ManifestRevision.objects.filter(project_id=OuterRef("project_id")).order_by("-number")
    rows = ManifestRevision.objects.filter(project_id__in=list(project_ids)).filter(
        pk=Subquery(newest.values("pk")[:1])
    )
    return {revision.project_id: revision for revision in rows}


# --- Base manifests -------------------------------------------------------------------


def base_list() -> QuerySet[BaseManifest]:
    return BaseManifest.objects.order_by("name")


def base_get(name: str) -> BaseManifest | None:
    return BaseManifest.objects.filter(name=name).first()


def base_revision_latest(base: BaseManifest) -> BaseManifestRevision | None:
    return base.revisions.order_by("-number").first()


def base_lookup(
    pinned: Mapping[str, int] | None = None, overrides: Mapping[str, str] | None = None
) -> BaseLookup:
    """Base texts for `resolve_manifest`: the latest revisions, or the revision numbers a
    run pinned, with `overrides` (name -> text) for "what would this change" previews."""
    cache: dict[str, str | None] = {}

    def lookup(name: str) -> str | None:
        if overrides and name in overrides:
            return overrides[name]
        if name not in cache:
            revisions = BaseManifestRevision.objects.filter(base__name=name)
            if pinned and name in pinned:
                revisions = revisions.filter(number=pinned[name])
            found = revisions.order_by("-number").first()
            cache[name] = found.yaml_text if found else None
        return cache[name]

    return lookup


def base_numbers(names: Iterable[str]) -> dict[str, int]:
    """The latest revision number of each named base (what a run pins)."""
    rows = (
        BaseManifestRevision.objects.filter(base__name__in=list(names))
        .values_list("base__name")
        .annotate(n=Max("number"))
    )
    return {name: n for name, n in rows}


def manifest_resolve(text: str, *, pinned: Mapping[str, int] | None = None) -> ResolvedManifest:
    """A project manifest's text with its `extends` resolved (the effective manifest)."""
    return resolve_manifest(text, base_lookup(pinned))


@dataclass(frozen=True)
class BaseImpact:
    project: Project
    changes: bool  # the effective manifest differs with the new text
    valid: bool  # the project manifest still resolves without errors


def base_impact(name: str, new_text: str | None = None) -> list[BaseImpact]:
    """Projects whose latest manifest uses base `name` (directly or through another base)
    and whether `new_text` would change their effective manifest."""
    found: list[BaseImpact] = []
    latest = ManifestRevision.objects.filter(
        pk__in=Subquery(
            ManifestRevision.objects.filter(project=OuterRef("project"))
            .order_by("-number")
            .values("pk")[:1]
        )
    ).select_related("project")
    for revision in latest.order_by("project__name"):
        if not extends_of(revision.yaml_text):
            continue
        now = manifest_resolve(revision.yaml_text)
        if name not in now.base_names:
            continue
        if new_text is None:
            found.append(BaseImpact(revision.project, False, now.ok))
            continue
        after = resolve_manifest(revision.yaml_text, base_lookup(overrides={name: new_text}))
        changed = dict(after.effective) != dict(now.effective)
        found.append(BaseImpact(revision.project, changed, after.ok))
    return found


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
    record: StoredRecord
    payload: dict[str, Any]
    sentence: str = ""  # the event in one sentence (projects.audit_sentences)


def audit_actor_names_for(project: Project) -> list[str]:
    """The names that acted on the project, for the audit tab's filter."""
    names = project.audit_records.order_by().values_list("actor_name", flat=True).distinct()
    # A damaged row may hold bytes instead of text: only real names are offered.
    return sorted({name for name in names if isinstance(name, str) and name})


def audit_page_for_project(
    project: Project,
    *,
    action: str = "",
    actor: str = "",
    page: str | int | None,
) -> tuple[Page[Any], list[AuditRow]]:
    """One page of `project`'s audit records, newest first, payloads decrypted and each
    read as one sentence (the caller has checked the manage permission). `action` filters
    by prefix ("run."), `actor` by name ("-" for bmadweb itself). Read as stored
    (docs/security.md#s21): a damaged column names its record instead of failing the page."""
    records = project.audit_records.order_by("-seq")
    if action:
        records = records.filter(action__startswith=action)
    if actor == "-":
        records = records.filter(actor_name="")
    elif actor:
        records = records.filter(actor_name=actor)
    current = Paginator(records, AUDIT_PAGE_SIZE).get_page(page)
    window = slice(max(current.start_index() - 1, 0), current.end_index())
    rows = []
    for record in stored_records(records, window=window):
        if record.damage:
            payload: dict[str, Any] = {"error": f"damaged: {record.damage}"}
        else:
            try:
                payload = stored_payload(record)
            except crypto.CryptoError:
                payload = {"error": "cannot decrypt this payload"}
        sentence = (
            f"Damaged record: {record.damage}."
            if record.damage
            else audit_sentence(record.action, record.actor_name, payload)
        )
        rows.append(AuditRow(record, payload, sentence))
    return current, rows
