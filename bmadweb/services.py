"""Platform-wide services: key rotation."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from bmadweb import crypto
from bmadweb.audit import audit_record
from bmadweb.models import AuditRecord
from projects.models import SECRET_FIELDS, Project


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
