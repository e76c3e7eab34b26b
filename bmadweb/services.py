"""Platform-wide services: sign-in events and their lockout, key rotation.

Keyword-only, typed, named <noun>_<verb>; each writes its audit record in the same
transaction as the change it records. Views and the admin never write the audit chain
themselves (an import contract in pyproject.toml keeps bmadweb.audit to the services and
selectors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bmadweb import crypto
from bmadweb.audit import audit_record
from bmadweb.models import AuditRecord
from projects.models import SECRET_FIELDS, Project
from provisioning.models import NotificationTarget

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

# --- Sign-in events -----------------------------------------------------------------
# The lockout itself is django-axes (bmadweb.lockout): it counts the failures and decides
# the lockouts; these services audit what it decided.


def auth_login_record(*, user: User, address: str) -> AuditRecord:
    """A successful sign-in, audited (axes forgets the failures counted against it)."""
    return audit_record(action="auth.login", actor=user, payload={"address": address})


def auth_logout_record(*, user: User | AnonymousUser) -> AuditRecord | None:
    """A sign-out, audited when someone was signed in (None otherwise)."""
    if not user.is_authenticated:
        return None
    return audit_record(action="auth.logout", actor=user)


@transaction.atomic
def auth_login_failure_record(
    *,
    username: str,
    address: str,
    already_locked: bool = False,
    locked: Sequence[str] = (),
) -> AuditRecord:
    """A refused sign-in, audited as `auth.login_failed` with the name tried and the
    address (never the password).

    `already_locked`: axes refused it because a lockout was in force (not counted).
    `locked`: the counters this failure made reach their limit ("account_at_address",
    "account"); the lockout is then audited by `auth_lockout_record`, once, as axes does
    not count attempts refused during a lockout.
    """
    username = username[:150]
    record = audit_record(
        action="auth.login_failed", payload={"username": username, "address": address}
    )
    if locked and not already_locked:
        until = timezone.now() + timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
        auth_lockout_record(username=username, address=address, locked=locked, until=until)
    return record


@transaction.atomic
def auth_lockout_record(
    *, username: str, address: str, locked: Sequence[str], until: datetime
) -> AuditRecord:
    """Audit a lockout: which counters locked (the account at that address, the account
    from every address), and until when."""
    return audit_record(
        action="auth.lockout",
        payload={
            "username": username,
            "address": address,
            "locked": list(locked),
            "until": until.isoformat(),
        },
    )


# --- Single sign-on (bmadweb.oidc) -----------------------------------------------------


def auth_oidc_account_create_record(*, user: User, issuer: str, subject: str) -> AuditRecord:
    """An account made for a first sign-in through the identity provider, audited with
    the (issuer, subject) it is linked by."""
    return audit_record(
        action="auth.oidc_account_create",
        actor=user,
        payload={"issuer": issuer, "subject": subject},
    )


def auth_oidc_login_record(
    *,
    user: User,
    issuer: str,
    groups_added: Sequence[str],
    groups_removed: Sequence[str],
    address: str,
) -> AuditRecord:
    """A sign-in through the identity provider, with the groups and the staff and
    superuser flags its claims set."""
    return audit_record(
        action="auth.login",
        actor=user,
        payload={
            "via": "oidc",
            "issuer": issuer,
            "groups_added": list(groups_added),
            "groups_removed": list(groups_removed),
            "staff": user.is_staff,
            "superuser": user.is_superuser,
            "address": address,
        },
    )


def auth_oidc_failure_record(*, reason: str, address: str) -> AuditRecord:
    """A sign-in through the identity provider that failed (`reason` is our own words)."""
    return audit_record(
        action="auth.login_failed", payload={"via": "oidc", "reason": reason, "address": address}
    )


# --- Key rotation -------------------------------------------------------------------


@dataclass(frozen=True)
class RotationResult:
    project_values: int
    audit_payloads: int
    notification_values: int = 0


def keys_rotate(*, batch_size: int = 500) -> RotationResult:
    """Re-encrypt every stored value with the first key of BMADWEB_FERNET_KEYS.

    Safe to run again (values already under the new key are simply re-encrypted) and
    safe while the site runs: every key still decrypts until the operator removes the old
    one. The audit chain stays valid because its MACs cover plaintext. A value no key
    opens stops the rotation with CryptoError before anything of its batch is written.
    """
    project_values = 0
    for project in Project.objects.only("id", *(f"{f}_enc" for f in SECRET_FIELDS)).iterator():
        changed = []
        for field in SECRET_FIELDS:
            token = getattr(project, f"{field}_enc")
            if token:
                setattr(project, f"{field}_enc", crypto.rotate(token))
                changed.append(f"{field}_enc")
        if changed:
            Project.objects.filter(pk=project.pk).update(
                **{name: getattr(project, name) for name in changed}
            )
            project_values += len(changed)
    notification_values = 0
    # Notification target URLs and signing secrets (docs/security.md#s28).
    targets = NotificationTarget.objects.only("id", "url_enc", "secret_enc")
    for target in targets.iterator():
        fields = {
            name: crypto.rotate(getattr(target, name))
            for name in ("url_enc", "secret_enc")
            if getattr(target, name)
        }
        if fields:
            NotificationTarget.objects.filter(pk=target.pk).update(**fields)
            notification_values += len(fields)
    audit_payloads = 0
    last_seq = 0
    while True:
        with transaction.atomic():
            batch = list(
                AuditRecord.objects.filter(seq__gt=last_seq)
                .order_by("seq")
                .only("id", "seq", "payload_enc")[:batch_size]
            )
            if not batch:
                break
            for record in batch:
                record.payload_enc = crypto.rotate(record.payload_enc)
            AuditRecord.objects.bulk_update(batch, ["payload_enc"])
        audit_payloads += len(batch)
        last_seq = batch[-1].seq
    audit_record(
        action="keys.rotate",
        payload={
            "project_values": project_values,
            "audit_payloads": audit_payloads,
            "notification_values": notification_values,
        },
    )
    return RotationResult(project_values, audit_payloads, notification_values)
