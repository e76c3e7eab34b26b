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
from django.db.models import F
from django.utils import timezone

from bmadweb import crypto
from bmadweb.audit import audit_record
from bmadweb.models import AuditRecord, LoginThrottle
from bmadweb.selectors import login_throttle_keys
from projects.models import SECRET_FIELDS, Project

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

# --- Sign-in events -----------------------------------------------------------------


@transaction.atomic
def auth_login_record(*, user: User, address: str) -> AuditRecord:
    """A successful sign-in: forget the failures counted against the name and the
    address, and audit it."""
    LoginThrottle.objects.filter(
        key__in=login_throttle_keys(username=user.get_username(), address=address)
    ).delete()
    return audit_record(action="auth.login", actor=user)


def auth_logout_record(*, user: User | AnonymousUser) -> AuditRecord | None:
    """A sign-out, audited when someone was signed in (None otherwise)."""
    if not user.is_authenticated:
        return None
    return audit_record(action="auth.logout", actor=user)


@transaction.atomic
def auth_login_failure_record(
    *, username: str, address: str, already_locked: bool = False
) -> AuditRecord:
    """A refused sign-in, audited as `auth.login_failed` with the name tried and the
    address (never the password).

    Unless it was refused because the name or the address is locked already, it counts
    against both; the failure that reaches LOGIN_FAILURE_LIMIT within
    LOGIN_LOCKOUT_SECONDS locks them for LOGIN_LOCKOUT_SECONDS, audited by
    `auth_lockout_record`.
    """
    username = username[:150]
    record = audit_record(
        action="auth.login_failed", payload={"username": username, "address": address}
    )
    if not already_locked:
        locked, until = _login_failure_count(username=username, address=address)
        if locked:
            auth_lockout_record(username=username, address=address, locked=locked, until=until)
    return record


@transaction.atomic
def auth_lockout_record(
    *, username: str, address: str, locked: Sequence[str], until: datetime
) -> AuditRecord:
    """Audit a lockout: which of the name and the address is locked, and until when."""
    return audit_record(
        action="auth.lockout",
        payload={
            "username": username,
            "address": address,
            "locked": list(locked),
            "until": until.isoformat(),
        },
    )


def _login_failure_count(*, username: str, address: str) -> tuple[list[str], datetime]:
    """Count one failure against the name and the address and lock whichever reaches
    the limit. Returns what this failure locked ("username", "address") and until when."""
    now = timezone.now()
    window = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    locked = []
    for key in login_throttle_keys(username=username, address=address):
        row, _ = LoginThrottle.objects.select_for_update().get_or_create(
            key=key, defaults={"first_failure": now}
        )
        if row.first_failure < now - window:
            # A plain value: F("failures") + 1 would add to the stale count in the row.
            row.failures, row.first_failure, row.locked_until = 1, now, None
        else:
            row.failures = F("failures") + 1
        row.save()
        row.refresh_from_db()
        if row.failures >= settings.LOGIN_FAILURE_LIMIT:
            if row.locked_until is None or row.locked_until <= now:
                locked.append("username" if key.startswith("user:") else "address")
            row.locked_until = now + window
            row.save(update_fields=["locked_until"])
    return locked, now + window


# --- Key rotation -------------------------------------------------------------------


@dataclass(frozen=True)
class RotationResult:
    project_values: int
    audit_payloads: int


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
        payload={"project_values": project_values, "audit_payloads": audit_payloads},
    )
    return RotationResult(project_values, audit_payloads)
