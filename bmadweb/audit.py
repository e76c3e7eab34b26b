"""The one door for audit writes (`audit_record`) and the chain verifier.

The MAC covers the plaintext, not the ciphertext, so re-encrypting payloads during key
rotation keeps the chain valid (docs/security.md#s21).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from bmadweb import crypto
from bmadweb.models import AuditHead, AuditRecord

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from projects.models import Project

GENESIS = "0" * 64


def _context(seq: int) -> str:
    return f"audit:{seq}:payload"


def _canonical(
    *,
    seq: int,
    created: str,
    action: str,
    actor_id: int | None,
    actor_name: str,
    project_id: int | None,
    project_slug: str,
    payload: Mapping[str, Any],
) -> bytes:
    body = {
        "seq": seq,
        "created": created,
        "action": action,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "project_id": project_id,
        "project_slug": project_slug,
        "payload": payload,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def _mac(key_id: str, prev_mac: str, seq: int, canonical: bytes) -> str:
    return crypto.audit_mac(
        key_id, prev_mac.encode("ascii") + b"|" + str(seq).encode() + b"|" + canonical
    )


@dataclass(frozen=True)
class AuditEntry:
    """One record to append (see `audit_record`)."""

    action: str
    actor: User | AnonymousUser | None = None
    project: Project | None = None
    payload: Mapping[str, Any] | None = None


def audit_record(
    *,
    action: str,
    actor: User | AnonymousUser | None = None,
    project: Project | None = None,
    payload: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Append one record to the audit chain. Never pass secrets in `payload`."""
    return audit_record_many([AuditEntry(action, actor, project, payload)])[0]


# No savepoint: inside a caller's transaction the records commit or roll back with the
# action they record, and a failure here must fail that action anyway. This spares two
# queries on every audited action.
@transaction.atomic(savepoint=False)
def audit_record_many(entries: Sequence[AuditEntry]) -> list[AuditRecord]:
    """Append records in order, under one lock of the chain head and with one INSERT (the
    webhook drain audits a batch of deliveries at once)."""
    if not entries:
        return []
    head, _ = AuditHead.objects.select_for_update().get_or_create(id=1)
    key_id = crypto.audit_signing_key_id()
    seq, prev_mac = head.seq, head.mac or GENESIS
    records = []
    for entry in entries:
        seq += 1
        record = _new_record(entry, seq=seq, prev_mac=prev_mac, key_id=key_id)
        records.append(record)
        prev_mac = record.mac
    AuditRecord.objects.bulk_create(records)
    # A plain UPDATE: the row is already locked, and Model.save() costs more than the SQL.
    AuditHead.objects.filter(id=1).update(seq=seq, mac=prev_mac)
    return records


def _new_record(entry: AuditEntry, *, seq: int, prev_mac: str, key_id: str) -> AuditRecord:
    created = timezone.now()
    actor = entry.actor if entry.actor is not None and entry.actor.is_authenticated else None
    actor_id = actor.pk if actor is not None else None
    actor_name = actor.get_username() if actor is not None else ""
    project = entry.project
    clean_payload = json.loads(json.dumps(dict(entry.payload or {}), default=str))
    canonical = _canonical(
        seq=seq,
        created=created.isoformat(),
        action=entry.action,
        actor_id=actor_id,
        actor_name=actor_name,
        project_id=project.pk if project else None,
        project_slug=project.slug if project else "",
        payload=clean_payload,
    )
    return AuditRecord(
        seq=seq,
        created=created,
        action=entry.action,
        actor_id=actor_id,
        actor_name=actor_name,
        project=project,
        project_slug=project.slug if project else "",
        payload_enc=crypto.encrypt(json.dumps(clean_payload), context=_context(seq)),
        mac_key_id=key_id,
        prev_mac=prev_mac,
        mac=_mac(key_id, prev_mac, seq, canonical),
    )


def audit_payload(record: AuditRecord) -> dict[str, Any]:
    """Decrypted payload of a record (raises crypto.CryptoError when it cannot)."""
    return dict(json.loads(crypto.decrypt(record.payload_enc, context=_context(record.seq))))


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""


def _records() -> Iterator[AuditRecord]:
    # Projects and actors may be gone; only copied columns matter for the chain.
    return AuditRecord.objects.order_by("seq").iterator(chunk_size=2000)


def _check_one(record: AuditRecord, expected_seq: int, prev_mac: str) -> str:
    """Return why `record` breaks the chain, or "" when it is sound."""
    if record.seq != expected_seq:
        return f"expected record #{expected_seq} next, found #{record.seq} (missing or moved)"
    if not crypto.constant_time_equal(record.prev_mac, prev_mac):
        return "its link to the previous record does not match"
    try:
        payload = audit_payload(record)
    except crypto.CryptoError:
        return "its payload cannot be decrypted (edited or foreign ciphertext)"
    canonical = _canonical(
        seq=record.seq,
        created=record.created.isoformat(),
        action=record.action,
        actor_id=record.actor_id,
        actor_name=record.actor_name,
        project_id=record.project_id,
        project_slug=record.project_slug,
        payload=payload,
    )
    try:
        expected = _mac(record.mac_key_id, prev_mac, record.seq, canonical)
    except crypto.KeyConfigError:
        return f"it is signed with audit key {record.mac_key_id!r}, which is not configured"
    if not crypto.constant_time_equal(expected, record.mac):
        return "its content does not match its MAC (edited or forged)"
    return ""


def audit_verify() -> VerifyResult:
    """Walk the whole chain; name the first record that breaks it."""
    prev_mac, expected_seq, checked = GENESIS, 1, 0
    for record in _records():
        reason = _check_one(record, expected_seq, prev_mac)
        if reason:
            return VerifyResult(False, checked, record.seq, reason)
        prev_mac, expected_seq, checked = record.mac, record.seq + 1, checked + 1
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and (head.seq != expected_seq - 1 or (checked and head.mac != prev_mac)):
        return VerifyResult(
            False,
            checked,
            expected_seq,
            f"the chain ends at #{expected_seq - 1} but #{head.seq} was written "
            "(records deleted from the end)",
        )
    return VerifyResult(True, checked)
