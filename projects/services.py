"""Write-side services for projects, secrets, roles and manifests.

Keyword-only, typed, named <noun>_<verb>; each writes its audit record in the same
transaction, so an action and its audit trail commit or fail together.
"""

from __future__ import annotations

import hashlib
import re
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Max
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm

from bmadweb.audit import audit_record
from projects.models import (
    SECRET_FIELDS,
    BaseManifest,
    BaseManifestRevision,
    ManifestRevision,
    Membership,
    Project,
)
from projects.roles import Role, perms_for_roles
from projects.selectors import base_lookup
from provisioning.engine.extends import check_base, resolve_manifest
from provisioning.engine.manifest import ManifestError
from provisioning.engine.paths import is_valid_id

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Actor = User | AnonymousUser | None

EDITABLE_FIELDS = (
    "name",
    "repo_url",
    "default_branch",
    "forge_kind",
    "forge_api_url",
    "push_mode",
    "require_approval",
    "upgrades_skip_approval",
    "drift_check_hours",
)

# Credentials a person types in. Webhook secrets are generated (webhook_secret_regenerate),
# never typed: they may only be cleared by hand.
TYPED_SECRET_FIELDS = tuple(f for f in SECRET_FIELDS if not f.startswith("webhook_"))


def _secret_check(field: str, value: str) -> None:
    if field not in SECRET_FIELDS:
        raise ValueError(f"unknown secret field {field!r}")
    if value and field not in TYPED_SECRET_FIELDS:
        raise ValueError(f"{field} is generated, never typed: use webhook_secret_regenerate")


@transaction.atomic
def project_create(
    *,
    actor: Actor,
    name: str,
    slug: str,
    repo_url: str,
    default_branch: str = "main",
    secrets: Mapping[str, str] | None = None,
    **options: Any,
) -> Project:
    """Create a project; its creator (when a person) becomes its owner."""
    project = Project(
        name=name,
        slug=slug,
        repo_url=repo_url,
        default_branch=default_branch,
        **{k: v for k, v in options.items() if k in EDITABLE_FIELDS},
    )
    if actor is not None and actor.is_authenticated:
        project.created_by = actor
    project.full_clean()
    for field, value in (secrets or {}).items():
        _secret_check(field, value)
        project.set_secret(field, value)
    project.save()
    audit_record(
        action="project.create",
        actor=actor,
        project=project,
        payload={
            "name": name,
            "repo_url": repo_url,
            "secrets_set": sorted(f for f, v in (secrets or {}).items() if v),
        },
    )
    if actor is not None and actor.is_authenticated:
        role_grant(actor=actor, project=project, role=Role.OWNER, user=actor)
    return project


# Credentials belong to the place they were made for (docs/security.md#s8): a token for
# one host must not follow the project to another.
REPO_CREDENTIALS = ("clone_token", "ssh_private_key")
FORGE_CREDENTIALS = ("forge_token",)
_SCHEME_HOST = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?(\[[^\]]*\]|[^/:?#]*)(?::(\d*))?"
)
_SCP_HOST = re.compile(r"^(?:[^@/:]*@)?([^@/:]+):")


def repo_target(url: str) -> str:
    """Where a repository URL's credentials go: its host (any scheme or user), or the
    local path for a local repository."""
    url = (url or "").strip()
    if url.startswith("/") or url.lower().startswith("file:"):
        return "local:" + url.removeprefix("file://")
    if match := _SCHEME_HOST.match(url):
        return match.group(1).lower()
    if match := _SCP_HOST.match(url):
        return match.group(1).lower()
    return url.lower()


def forge_target(api_url: str, repo_url: str) -> str:
    """Where the forge token goes: the API URL's host and port, or (no API URL) the
    repository's host, from which the default API address is derived."""
    if not api_url:
        return "repo:" + repo_target(repo_url)
    match = _SCHEME_HOST.match(api_url.strip())
    return f"{match.group(1).lower()}:{match.group(2) or ''}" if match else api_url.lower()


def credentials_left_behind(
    *, before: tuple[str, str], after: tuple[str, str], project: Project
) -> list[str]:
    """The stored credentials tied to a target (repository host, forge API address) that
    moved from `before` to `after` (each (repo_url, forge_api_url))."""
    fields: list[str] = []
    if repo_target(before[0]) != repo_target(after[0]):
        fields += REPO_CREDENTIALS
    if forge_target(before[1], before[0]) != forge_target(after[1], after[0]):
        fields += FORGE_CREDENTIALS
    return [field for field in fields if project.has_secret(field)]


@dataclass(frozen=True)
class ProjectUpdated:
    project: Project
    changed: list[str]
    credentials_cleared: list[str]


@transaction.atomic
def project_update(*, actor: Actor, project: Project, **changes: Any) -> ProjectUpdated:
    """Change settings. Moving the repository to another host, or the forge API to
    another address, clears the credentials tied to the old one: they must be entered
    again for the new target (the result names them, and so does the audit record)."""
    changed = {}
    before = (project.repo_url, project.forge_api_url)
    for field, value in changes.items():
        if field not in EDITABLE_FIELDS:
            raise ValueError(f"{field} cannot be changed here")
        if getattr(project, field) != value:
            changed[field] = {"from": getattr(project, field), "to": value}
            setattr(project, field, value)
    cleared: list[str] = []
    if changed:
        if "drift_check_hours" in changed:
            project.next_drift_check_at = None  # the scheduler places the next check anew
        project.full_clean()
        after = (project.repo_url, project.forge_api_url)
        cleared = credentials_left_behind(before=before, after=after, project=project)
        for field in cleared:
            project.set_secret(field, "")
        # Only what changed: a whole-row save would write back the scheduler's
        # next_drift_check_at as it was when this request read the row.
        fields = [*changed, *(f"{field}_enc" for field in cleared), "updated_at"]
        if "drift_check_hours" in changed:
            fields.append("next_drift_check_at")
        project.save(update_fields=fields)
        payload: dict[str, Any] = {"changes": changed}
        if cleared:
            payload["credentials_cleared"] = cleared
        audit_record(action="project.update", actor=actor, project=project, payload=payload)
    return ProjectUpdated(project, sorted(changed), cleared)


@transaction.atomic
def project_secret_set(*, actor: Actor, project: Project, field: str, value: str) -> None:
    """Store (or clear, with an empty value) one encrypted credential. The audit record
    names the field only, never the value. Webhook secrets can only be cleared here."""
    _secret_check(field, value)
    project.set_secret(field, value)
    project.save(update_fields=[f"{field}_enc", "updated_at"])
    audit_record(
        action="credential.set" if value else "credential.clear",
        actor=actor,
        project=project,
        payload={"field": field},
    )


@transaction.atomic
def webhook_secret_regenerate(*, actor: Actor, project: Project) -> str:
    """New webhook secret; the old one stays valid (rotation) until the next change.
    Returns the new secret, to be shown once."""
    new_secret = pysecrets.token_urlsafe(32)
    if project.has_secret("webhook_secret"):
        project.set_secret("webhook_secret_previous", project.get_secret("webhook_secret"))
    project.set_secret("webhook_secret", new_secret)
    project.save(update_fields=["webhook_secret_enc", "webhook_secret_previous_enc", "updated_at"])
    audit_record(action="webhook.secret_regenerate", actor=actor, project=project)
    return new_secret


@transaction.atomic
def project_delete(*, actor: Actor, project: Project) -> None:
    audit_record(
        action="project.delete",
        actor=actor,
        project=project,
        payload={"slug": project.slug, "repo_url": project.repo_url},
    )
    ct = ContentType.objects.get_for_model(Project)
    UserObjectPermission.objects.filter(content_type=ct, object_pk=str(project.pk)).delete()
    GroupObjectPermission.objects.filter(content_type=ct, object_pk=str(project.pk)).delete()
    project.delete()


# --- Roles ---------------------------------------------------------------------------


def _sync_object_perms(project: Project, principal: User | Group) -> None:
    """Make the principal's guardian permissions on `project` equal the union of its roles."""
    is_group = isinstance(principal, Group)
    rows = Membership.objects.filter(
        project=project, **{"group" if is_group else "user": principal}
    )
    wanted = {str(p) for p in perms_for_roles({Role(r.role) for r in rows})}
    model = GroupObjectPermission if is_group else UserObjectPermission
    current = set(
        model.objects.filter(
            **{"group" if is_group else "user": principal},
            content_type=ContentType.objects.get_for_model(Project),
            object_pk=str(project.pk),
        ).values_list("permission__codename", flat=True)
    )
    for codename in wanted - current:
        assign_perm(f"projects.{codename}", principal, project)
    for codename in current - wanted:
        remove_perm(f"projects.{codename}", principal, project)


def _principal(user: User | None, group: Group | None) -> dict[str, Any]:
    if (user is None) == (group is None):
        raise ValueError("give exactly one of user or group")
    return {"user": user} if user is not None else {"group": group}


@transaction.atomic
def role_grant(
    *,
    actor: Actor,
    project: Project,
    role: Role,
    user: User | None = None,
    group: Group | None = None,
) -> Membership:
    who = _principal(user, group)
    membership, created = Membership.objects.get_or_create(project=project, role=role, **who)
    _sync_object_perms(project, user or group)  # type: ignore[arg-type]
    if created:
        audit_record(
            action="role.grant",
            actor=actor,
            project=project,
            payload={"role": str(role), **_who_payload(user, group)},
        )
    return membership


class RoleError(ValueError):
    """A role change that cannot be made; the message is for the person."""


LAST_OWNER_MESSAGE = "A project keeps at least one owner. Add another owner first."


class LastOwner(RoleError):
    """Revoking this role would leave the project without an owner."""

    def __init__(self) -> None:
        super().__init__(LAST_OWNER_MESSAGE)


def _lock_project(project: Project) -> None:
    """Serialise writers of one project's roles or revisions: the project row is locked
    (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions already
    serialise every writer) until the caller's transaction ends."""
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()


@transaction.atomic
def role_revoke(
    *,
    actor: Actor,
    project: Project,
    role: Role,
    user: User | None = None,
    group: Group | None = None,
) -> None:
    """Revoke one role. Raises LastOwner (a RoleError), changing nothing, rather than
    leave the project without an owner (a user or a team holding the owner role): the
    check and the delete happen under the project's lock, so two owners removing each
    other at the same moment cannot both succeed."""
    who = _principal(user, group)
    _lock_project(project)
    memberships = Membership.objects.filter(project=project, role=role)
    owner_leaving = role == Role.OWNER and memberships.filter(**who).exists()
    if owner_leaving and not memberships.exclude(**who).exists():
        raise LastOwner
    deleted, _ = memberships.filter(**who).delete()
    _sync_object_perms(project, user or group)  # type: ignore[arg-type]
    if deleted:
        audit_record(
            action="role.revoke",
            actor=actor,
            project=project,
            payload={"role": str(role), **_who_payload(user, group)},
        )


def _who_payload(user: User | None, group: Group | None) -> dict[str, str]:
    if user is not None:
        return {"user": user.get_username()}
    assert group is not None
    return {"group": group.name}


# --- Manifests -----------------------------------------------------------------------


class ManifestInvalid(Exception):
    """The manifest has errors; `errors` lists every one with line and column."""

    def __init__(self, errors: tuple[Any, ...]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} errors in the manifest")


@transaction.atomic
def manifest_save(
    *, actor: Actor, project: Project, yaml_text: str, message: str = ""
) -> ManifestRevision:
    """Validate with the engine's hardened loader, then store a new immutable revision.

    Raises ManifestInvalid with every error (nothing is saved). An unchanged text returns
    the latest revision instead of a duplicate.
    """
    result = resolve_manifest(yaml_text, base_lookup())
    if not result.ok:
        raise ManifestInvalid(result.errors)
    # Concurrent saves queue on the project's lock, so each reads the number the previous
    # one wrote (locking the latest revision locked nothing before the first one).
    _lock_project(project)
    revision, created = _revision_append(
        project.revisions, yaml_text=yaml_text, actor=actor, message=message
    )
    if created:
        audit_record(
            action="manifest.save",
            actor=actor,
            project=project,
            payload={
                "revision": revision.number,
                "sha256": revision.sha256,
                "message": message[:200],
            },
        )
    return revision


class ManifestConflict(Exception):
    """Another save took this revision number first; the caller may retry (HTTP 409)."""

    def __init__(self) -> None:
        super().__init__("Another change to this manifest was saved at the same moment: reload it.")


def _revision_append(
    revisions: Any, *, yaml_text: str, actor: Actor, message: str
) -> tuple[Any, bool]:
    """A new revision of a project's or a base's manifest (`revisions` is its related
    manager), and True; or the latest one and False when the text is unchanged. The
    caller holds the owner's row lock; a number taken at the same moment anyway is a
    ManifestConflict, never a duplicate."""
    digest = hashlib.sha256(yaml_text.encode("utf-8")).hexdigest()
    latest = revisions.order_by("-number").first()
    if latest is not None and latest.sha256 == digest:
        return latest, False
    number = (revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    author = actor if actor is not None and actor.is_authenticated else None
    try:
        with transaction.atomic():
            revision = revisions.create(
                number=number,
                yaml_text=yaml_text,
                sha256=digest,
                author=author,
                author_name=author.get_username() if author is not None else "",
                message=message[:200],
            )
    except IntegrityError:
        raise ManifestConflict from None
    return revision, True


class NotStaff(Exception):
    """Only platform staff keep base manifests."""


@transaction.atomic
def base_save(
    *, actor: Actor, name: str, yaml_text: str, message: str = "", description: str = ""
) -> BaseManifestRevision:
    """Store a new immutable revision of base manifest `name` (created on first save).

    Staff only (NotStaff otherwise); ManifestInvalid with every error positioned in the
    base's text; an unchanged text returns the latest revision.
    """
    if actor is None or not actor.is_authenticated or not actor.is_staff:
        raise NotStaff("Only platform staff can change base manifests.")
    if not is_valid_id(name):  # manifests could never extend it
        raise ManifestInvalid(
            (
                ManifestError(
                    1,
                    1,
                    "",
                    f"{name[:80]!r} is not a base name: use 1-63 lowercase letters, digits "
                    "or hyphens, starting with a letter or digit",
                ),
            )
        )
    errors = check_base(name, yaml_text, base_lookup())
    if errors:
        raise ManifestInvalid(errors)
    base, _ = BaseManifest.objects.select_for_update().get_or_create(
        name=name, defaults={"description": description[:200]}
    )
    if description and description != base.description:
        base.description = description[:200]
        base.save(update_fields=["description"])
    revision, created = _revision_append(
        base.revisions, yaml_text=yaml_text, actor=actor, message=message
    )
    if created:
        audit_record(
            action="base.save",
            actor=actor,
            payload={
                "base": name,
                "revision": revision.number,
                "sha256": revision.sha256,
                "message": message[:200],
            },
        )
    return revision
