"""The audit chain: every kind of tampering is detected; rotation keeps it valid."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from bmadweb import crypto
from bmadweb.audit import (
    AuditEntry,
    audit_payload,
    audit_record,
    audit_record_many,
    audit_verify,
)
from bmadweb.models import AuditRecord
from bmadweb.services import keys_rotate

pytestmark = pytest.mark.django_db


def _write_chain(n: int = 5) -> list[AuditRecord]:
    return [
        audit_record(action="test.event", payload={"i": i, "note": f"event {i}"}) for i in range(n)
    ]


def test_intact_chain_verifies():
    _write_chain()
    result = audit_verify()
    assert result.ok
    assert result.checked == 5


def test_payload_is_encrypted_at_rest_and_decrypts():
    record = audit_record(action="test.event", payload={"secret_word": "marmalade"})
    stored = AuditRecord.objects.values_list("payload_enc", flat=True).get(pk=record.pk)
    assert "marmalade" not in stored
    assert audit_payload(record) == {"secret_word": "marmalade"}


def test_edited_byte_in_action_is_detected():
    _write_chain()
    AuditRecord.objects.filter(seq=3).update(action="test.evenT")
    result = audit_verify()
    assert not result.ok
    assert result.first_bad_seq == 3


def test_edited_byte_in_ciphertext_is_detected():
    records = _write_chain()
    token = records[1].payload_enc
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    AuditRecord.objects.filter(seq=2).update(payload_enc=flipped)
    result = audit_verify()
    assert not result.ok
    assert result.first_bad_seq == 2


def test_deleted_row_is_detected():
    _write_chain()
    AuditRecord.objects.filter(seq=3).delete()
    result = audit_verify()
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "missing" in result.reason


def test_deleted_tail_is_detected():
    _write_chain()
    AuditRecord.objects.filter(seq=5).delete()
    result = audit_verify()
    assert not result.ok
    assert result.first_bad_seq == 5


def test_swapped_rows_are_detected():
    _write_chain()
    a, b = AuditRecord.objects.get(seq=2), AuditRecord.objects.get(seq=3)
    AuditRecord.objects.filter(pk=a.pk).update(seq=1000)
    AuditRecord.objects.filter(pk=b.pk).update(seq=2)
    AuditRecord.objects.filter(pk=a.pk).update(seq=3)
    result = audit_verify()
    assert not result.ok
    assert result.first_bad_seq == 2


def test_forged_row_is_detected():
    _write_chain(3)
    last = AuditRecord.objects.get(seq=3)
    forged = AuditRecord.objects.create(
        seq=4,
        created=last.created,
        action="role.grant",
        actor_name="mallory",
        payload_enc=crypto.encrypt('{"role": "owner"}', context="audit:4:payload"),
        mac_key_id=last.mac_key_id,
        prev_mac=last.mac,
        mac="f" * 64,
    )
    result = audit_verify()
    assert not result.ok
    assert result.first_bad_seq == forged.seq


def test_verify_command_names_first_broken_record(capsys):
    _write_chain()
    AuditRecord.objects.filter(seq=2).update(actor_name="someone-else")
    with pytest.raises(SystemExit) as exc:
        call_command("audit_verify")
    assert exc.value.code == 1
    assert "#2" in capsys.readouterr().err


def test_rotation_keeps_chain_valid_and_new_key_alone_decrypts(settings):
    _write_chain(3)
    old_keys = list(settings.FERNET_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, *old_keys]
    result = keys_rotate()
    assert result.audit_payloads == 3
    settings.FERNET_KEYS = [new_key]
    verified = audit_verify()
    assert verified.ok
    assert verified.checked == 4
    assert audit_payload(AuditRecord.objects.get(seq=1))["i"] == 0


def test_rotation_is_idempotent(settings):
    _write_chain(2)
    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, *settings.FERNET_KEYS]
    keys_rotate()
    keys_rotate()
    settings.FERNET_KEYS = [new_key]
    assert audit_verify().ok


def test_wrong_key_fails_closed_without_key_material_in_logs(caplog, settings):
    _write_chain(2)
    wrong = Fernet.generate_key().decode()
    with override_settings(FERNET_KEYS=[wrong]), caplog.at_level(logging.DEBUG):
        result = audit_verify()
        with pytest.raises(crypto.CryptoError) as exc:
            audit_payload(AuditRecord.objects.get(seq=1))
    assert not result.ok
    assert result.first_bad_seq == 1
    assert "cannot decrypt" in str(exc.value)
    for key in (wrong, *settings.FERNET_KEYS):
        assert key not in str(exc.value)
        assert key not in caplog.text


def test_malformed_key_is_a_clear_error_naming_the_position_only():
    bad = "not-a-fernet-key-but-secret-looking"
    with override_settings(FERNET_KEYS=[bad]), pytest.raises(crypto.KeyConfigError) as exc:
        crypto.encrypt("x", context="t")
    assert "key #1" in str(exc.value)
    assert bad not in str(exc.value)


def test_rotate_command_reports_counts(capsys, settings):
    _write_chain(2)
    settings.FERNET_KEYS = [Fernet.generate_key().decode(), *settings.FERNET_KEYS]
    call_command("rotate_keys")
    assert "2 audit payloads" in capsys.readouterr().out


def test_record_rolls_back_with_the_action_it_records():
    from django.db import transaction

    from bmadweb.models import AuditHead

    def failing_action() -> None:
        with transaction.atomic():
            audit_record(action="project.delete", payload={"slug": "x"})
            raise RuntimeError("the action failed after its audit record was written")

    _write_chain(2)
    with pytest.raises(RuntimeError):
        failing_action()
    assert AuditRecord.objects.count() == 2
    assert AuditHead.objects.get(id=1).seq == 2
    audit_record(action="after")
    assert audit_verify().ok


def test_a_batch_continues_the_chain_in_order_and_each_record_verifies_alone():
    _write_chain(2)
    batch = audit_record_many(
        [AuditEntry(action="batch.event", payload={"i": i}) for i in range(50)]
    )
    audit_record(action="after.batch")
    assert [r.seq for r in batch] == list(range(3, 53))
    stored = AuditRecord.objects.get(seq=20)
    assert (stored.action, audit_payload(stored)) == ("batch.event", {"i": 17})
    assert audit_verify().ok
    assert audit_verify().checked == 53
    AuditRecord.objects.filter(seq=30).update(action="batch.evenT")  # tamper inside a batch
    assert audit_verify().first_bad_seq == 30


def test_an_empty_batch_writes_nothing():
    assert audit_record_many([]) == []
    assert not AuditRecord.objects.exists()
