"""Write-side services for projects, secrets, roles and manifests.

Keyword-only, typed, named <noun>_<verb>; each writes its audit record in the same
transaction, so an action and its audit trail commit or fail together.
"""

from __future__ import annotations

import hashlib
import secrets as pysecrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
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


@transaction.atomic
def project_update(*, actor: Actor, project: Project, **changes: Any) -> Project:
    changed = {}
    for field, value in changes.items():
        if field not in EDITABLE_FIELDS:
            raise ValueError(f"{field} cannot be changed here")
        if getattr(project, field) != value:
            changed[field] = {"from": getattr(project, field), "to": value}
            setattr(project, field, value)
    if changed:
        if "drift_check_hours" in changed:
            project.next_drift_check_at = None  # the scheduler places the next check anew
        project.full_clean()
        project.save()
        audit_record(
            action="project.update", actor=actor, project=project, payload={"changes": changed}
        )
    return project


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


@transaction.atomic
def role_revoke(
    *,
    actor: Actor,
    project: Project,
    role: Role,
    user: User | None = None,
    group: Group | None = None,
) -> None:
    """Remove a role; raises RoleError, changing nothing, when it would leave the project
    without an owner (a user or a team holding the owner role)."""
    who = _principal(user, group)
    rows = Membership.objects.filter(project=project, role=role, **who)
    if role == Role.OWNER:
        # Lock the owner rows, so two owners removing each other cannot both pass.
        owners = set(
            Membership.objects.select_for_update()
            .filter(project=project, role=Role.OWNER)
            .values_list("pk", flat=True)
        )
        leaving = set(rows.values_list("pk", flat=True))
        if leaving and not owners - leaving:
            raise RoleError(LAST_OWNER_MESSAGE)
    deleted, _ = rows.delete()
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
    digest = hashlib.sha256(yaml_text.encode("utf-8")).hexdigest()
    latest = project.revisions.select_for_update().order_by("-number").first()
    if latest is not None and latest.sha256 == digest:
        return latest
    number = (project.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    revision = ManifestRevision.objects.create(
        project=project,
        number=number,
        yaml_text=yaml_text,
        sha256=digest,
        author=actor if actor is not None and actor.is_authenticated else None,
        author_name=actor.get_username() if actor is not None and actor.is_authenticated else "",
        message=message[:200],
    )
    audit_record(
        action="manifest.save",
        actor=actor,
        project=project,
        payload={"revision": number, "sha256": digest, "message": message[:200]},
    )
    return revision


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
    errors = check_base(name, yaml_text, base_lookup())
    if errors:
        raise ManifestInvalid(errors)
    base, _ = BaseManifest.objects.select_for_update().get_or_create(
        name=name, defaults={"description": description[:200]}
    )
    if description and description != base.description:
        base.description = description[:200]
        base.save(update_fields=["description"])
    digest = hashlib.sha256(yaml_text.encode("utf-8")).hexdigest()
    latest = base.revisions.order_by("-number").first()
    if latest is not None and latest.sha256 == digest:
        return latest
    number = (latest.number if latest else 0) + 1
    revision = BaseManifestRevision.objects.create(
        base=base,
        number=number,
        yaml_text=yaml_text,
        sha256=digest,
        author=actor,
        author_name=actor.get_username(),
        message=message[:200],
    )
    audit_record(
        action="base.save",
        actor=actor,
        payload={"base": name, "revision": number, "sha256": digest, "message": message[:200]},
    )
    return revision
