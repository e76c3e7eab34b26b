"""The one door for audit writes (`audit_record`) and the chain verifier.

The MAC covers the plaintext, not the ciphertext, so re-encrypting payloads during key
rotation keeps the chain valid (docs/security.md#s21).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from bmadweb import crypto
from bmadweb.logscrub import scrub
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
    # Secrets in any spelling are scrubbed from every text of the payload (security.md#s8).
    clean_payload = _scrubbed(json.loads(json.dumps(dict(entry.payload or {}), default=str)))
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


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    return value


def audit_payload(record: AuditRecord) -> dict[str, Any]:
    """Decrypted payload of a record (raises crypto.CryptoError when it cannot)."""
    return dict(json.loads(crypto.decrypt(record.payload_enc, context=_context(record.seq))))


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""


# --- Reading stored records without trusting any column ------------------------------

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TEXT_COLUMNS = ("action", "actor_name", "project_slug", "payload_enc", "mac_key_id")


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored, every column checked for its type; `damage` names the first
    column that cannot be read ("" when all can). Read through `stored_records`, so a
    corrupt value (a timestamp PostgreSQL holds as 'infinity', text in a number column on
    SQLite) names its record instead of crashing the reader."""

    seq: int | None
    created: datetime | None
    created_text: str
    action: str
    actor_id: int | None
    actor_name: str
    project_id: int | None
    project_slug: str
    payload_enc: str
    mac_key_id: str
    prev_mac: str
    mac: str
    damage: str = ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _optional_int(value: object) -> tuple[int | None, bool]:
    if value is None:
        return None, True
    return (value, True) if type(value) is int else (None, False)


def _parse_created(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored(row: Sequence[Any]) -> StoredRecord:
    (seq, created_text, action, actor_id, actor_name, project_id, project_slug, payload_enc,
     mac_key_id, prev_mac, mac) = row  # fmt: skip
    damage = []
    if type(seq) is not int:
        damage.append("its sequence number is not a number")
    created = _parse_created(created_text)
    if created is None:
        damage.append("its time is not a valid timestamp")
    for name, value in zip(
        _TEXT_COLUMNS, (action, actor_name, project_slug, payload_enc, mac_key_id), strict=True
    ):
        if not isinstance(value, str):
            damage.append(f"its {name} is not text")
    actor, actor_ok = _optional_int(actor_id)
    project, project_ok = _optional_int(project_id)
    if not (actor_ok and project_ok):
        damage.append("its actor or project id is not a number")
    for name, value in (("previous MAC", prev_mac), ("MAC", mac)):
        if not (isinstance(value, str) and (_HEX64.match(value) or value == GENESIS)):
            damage.append(f"its {name} is not 64 hexadecimal digits")
    return StoredRecord(
        seq=seq if type(seq) is int else None,
        created=created,
        created_text=_text(created_text)[:40],
        action=_text(action),
        actor_id=actor,
        actor_name=_text(actor_name),
        project_id=project,
        project_slug=_text(project_slug),
        payload_enc=_text(payload_enc),
        mac_key_id=_text(mac_key_id),
        prev_mac=_text(prev_mac),
        mac=_text(mac),
        damage="; ".join(damage),
    )


def stored_records(
    records: QuerySet[AuditRecord], *, window: slice | None = None
) -> Iterator[StoredRecord]:
    """`records` (any filter and order, then `window`) as StoredRecords, in chunks. The
    timestamp is read as text and parsed here, so no stored value can make this fail."""
    rows = records.annotate(created_text=Cast("created", output_field=TextField())).values_list(
        "seq", "created_text", "action", "actor_id", "actor_name", "project_id",
        "project_slug", "payload_enc", "mac_key_id", "prev_mac", "mac",
    )  # fmt: skip
    if window is not None:
        rows = rows[window]
    for row in rows.iterator(chunk_size=2000):
        yield _stored(row)


def stored_payload(record: StoredRecord) -> dict[str, Any]:
    """Decrypted payload of a stored record (raises crypto.CryptoError when it cannot,
    also for plaintext that is not a JSON object)."""
    if record.seq is None:
        raise crypto.CryptoError("the record has no readable sequence number")
    try:
        data = json.loads(crypto.decrypt(record.payload_enc, context=_context(record.seq)))
    except (ValueError, TypeError):
        raise crypto.CryptoError("the payload is not a JSON object") from None
    if not isinstance(data, dict):
        raise crypto.CryptoError("the payload is not a JSON object")
    return data


def _check_one(record: StoredRecord, expected_seq: int, prev_mac: str) -> str:
    """Return why `record` breaks the chain, or "" when it is sound."""
    if record.damage:
        return f"it is damaged: {record.damage}"
    if record.seq != expected_seq:
        return f"expected record #{expected_seq} next, found #{record.seq} (missing or moved)"
    if not crypto.constant_time_equal(record.prev_mac, prev_mac):
        return "its link to the previous record does not match"
    try:
        payload = stored_payload(record)
    except crypto.CryptoError:
        return "its payload cannot be decrypted (edited or foreign ciphertext)"
    assert record.created is not None  # no damage
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


def audit_verify(*, after_seq: int = 0, after_mac: str = GENESIS) -> VerifyResult:
    """Walk the chain (from the record after `after_seq`, whose MAC is `after_mac`, to the
    head); name the first record that breaks it. Never raises on stored data."""
    prev_mac, expected_seq, checked = after_mac, after_seq + 1, 0
    records = AuditRecord.objects.order_by("seq")
    for record in stored_records(records.filter(seq__gt=after_seq) if after_seq else records):
        reason = _check_one(record, expected_seq, prev_mac)
        if reason:
            return VerifyResult(False, checked, record.seq or expected_seq, reason)
        prev_mac, expected_seq, checked = record.mac, expected_seq + 1, checked + 1
    head = AuditHead.objects.filter(id=1).values_list("seq", "mac").first()
    if head is not None and (head[0] != expected_seq - 1 or (checked and head[1] != prev_mac)):
        return VerifyResult(
            False,
            checked,
            expected_seq,
            f"the chain ends at #{expected_seq - 1} but #{head[0]} was written "
            "(records deleted from the end)",
        )
    return VerifyResult(True, checked)
