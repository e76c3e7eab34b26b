"""Every column the audit chain signs is covered: changing any one of them in the database,
even a payload re-encrypted with the real key for the right record, fails verification
at exactly that record. Deleting the project or the user a record names does not."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from django.core.management import call_command
from django.db.models import F

from bmadweb import crypto
from bmadweb.audit import VerifyResult, audit_payload, audit_record, audit_verify
from bmadweb.models import AuditHead, AuditRecord
from projects import services

pytestmark = pytest.mark.django_db

MAC_MISMATCH = "its content does not match its MAC (edited or forged)"
SECOND_AUDIT_KEY = "second:" + "s" * 40


@pytest.fixture
def seq(project, owner):  # type: ignore[no-untyped-def]
    """Five records by `owner` on `project`, after the records its creation wrote; the
    test tampers with the third of the five (its seq is the fixture's value)."""
    before = AuditRecord.objects.count()
    for i in range(5):
        audit_record(action="test.event", actor=owner, project=project, payload={"i": i})
    assert audit_verify().checked == before + 5
    return before + 3


@pytest.fixture
def other_project(owner, tmp_path):  # type: ignore[no-untyped-def]
    repo = tmp_path / "other.git"
    repo.mkdir()
    return services.project_create(actor=owner, name="Other", slug="other", repo_url=str(repo))


def _reencrypted_payload(record: AuditRecord) -> dict[str, Any]:
    changed = {**audit_payload(record), "i": 999}
    token = crypto.encrypt(json.dumps(changed), context=f"audit:{record.seq}:payload")
    return {"payload_enc": token}


TAMPERS: dict[str, Callable[..., dict[str, Any]]] = {
    "created one second later": lambda r, **_: {"created": r.created + timedelta(seconds=1)},
    "created one microsecond later": lambda r, **_: {
        "created": r.created + timedelta(microseconds=1)
    },
    "action": lambda r, **_: {"action": "test.evenT"},
    "actor_id to another user": lambda r, outsider, **_: {"actor_id": outsider.pk},
    "actor_id removed": lambda r, **_: {"actor_id": None},
    "actor_name": lambda r, **_: {"actor_name": "mallory"},
    "project_id to another project": lambda r, other_project, **_: {"project_id": other_project.pk},
    "project_id removed": lambda r, **_: {"project_id": None},
    "project_slug": lambda r, **_: {"project_slug": "other"},
    "payload re-encrypted with the real key": lambda r, **_: _reencrypted_payload(r),
}


@pytest.mark.parametrize("tamper", list(TAMPERS), ids=list(TAMPERS))
def test_changing_one_signed_column_fails_verification_at_that_record(
    seq, outsider, other_project, tamper, capsys
):
    record = AuditRecord.objects.get(seq=seq)
    changes = TAMPERS[tamper](record, outsider=outsider, other_project=other_project)
    AuditRecord.objects.filter(pk=record.pk).update(**changes)

    result = audit_verify()

    assert (result.ok, result.first_bad_seq, result.checked) == (False, seq, seq - 1)
    assert result.reason == MAC_MISMATCH
    with pytest.raises(SystemExit) as exc:
        call_command("audit_verify")
    assert exc.value.code == 1
    assert f"Audit chain broken at record #{seq}:" in capsys.readouterr().err


def test_the_untampered_chain_verifies_so_each_tamper_is_what_fails_it(seq):
    result = audit_verify()
    assert (result.ok, result.checked, result.first_bad_seq) == (True, seq + 2, None)


def test_the_same_payload_re_encrypted_still_verifies(seq):
    """The control for the payload tamper: a fresh ciphertext of the same plaintext (as key
    rotation writes) keeps the chain valid, so only the changed content fails it."""
    record = AuditRecord.objects.get(seq=seq)
    token = crypto.encrypt(json.dumps(audit_payload(record)), context=f"audit:{seq}:payload")
    assert token != record.payload_enc
    AuditRecord.objects.filter(pk=record.pk).update(payload_enc=token)
    assert audit_verify().ok


def test_a_record_relabelled_with_another_configured_key_fails_at_that_record(seq, settings):
    settings.AUDIT_KEYS = [*settings.AUDIT_KEYS, SECOND_AUDIT_KEY]
    assert audit_verify().ok
    AuditRecord.objects.filter(seq=seq).update(mac_key_id="second")
    result = audit_verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, seq, MAC_MISMATCH)


def test_a_record_signed_with_an_unconfigured_key_names_that_key(seq):
    AuditRecord.objects.filter(seq=seq).update(mac_key_id="gone")
    result = audit_verify()
    assert (result.ok, result.first_bad_seq) == (False, seq)
    assert result.reason == "it is signed with audit key 'gone', which is not configured"


def test_an_edited_link_to_the_previous_record_fails_at_that_record(seq):
    AuditRecord.objects.filter(seq=seq).update(prev_mac="0" * 64)
    result = audit_verify()
    assert (result.ok, result.first_bad_seq) == (False, seq)
    assert result.reason == "its link to the previous record does not match"


def test_records_are_signed_with_the_first_configured_key(seq, settings):
    settings.AUDIT_KEYS = [SECOND_AUDIT_KEY, *settings.AUDIT_KEYS]
    record = audit_record(action="after.rotation")
    assert record.mac_key_id == "second"
    assert audit_verify().ok


def test_deleting_the_project_a_record_names_keeps_the_chain_valid(seq, project, owner):
    services.project_delete(actor=owner, project=project)
    result = audit_verify()
    assert (result.ok, result.checked) == (True, seq + 3)
    deleted = AuditRecord.objects.get(seq=seq + 3)
    assert (deleted.action, deleted.project_slug) == ("project.delete", "healthai")


def test_deleting_the_user_a_record_names_keeps_the_chain_valid(seq, outsider):
    audit_record(action="test.by-outsider", actor=outsider)
    outsider.delete()
    result = audit_verify()
    assert (result.ok, result.checked) == (True, seq + 3)
    assert AuditRecord.objects.get(seq=seq + 3).actor_name == "oscar"


# --- The signed format is stable: chains written by earlier releases keep verifying ----

GOLDEN_KEY = "g" * 40
GOLDEN_SIGNED = (
    b'{"action":"project.create","actor_id":42,"actor_name":"olivia",'
    b'"created":"2026-01-02T03:04:05.678901+00:00","payload":{"count":3,"name":"Health AI"},'
    b'"project_id":7,"project_slug":"healthai","seq":1}'
)
GOLDEN_MAC = "0d9f18e6e6cca1c3135d4300d357a99ebf96efcc50dacf3e6981d2cac15864a5"


def test_a_record_signed_in_the_documented_format_verifies(settings):
    """MAC = HMAC-SHA256(key, previous mac | seq | canonical JSON with sorted keys and no
    spaces). A change to that format would break every chain already written."""
    settings.AUDIT_KEYS = [f"golden:{GOLDEN_KEY}"]
    message = b"0" * 64 + b"|1|" + GOLDEN_SIGNED
    assert hmac.new(GOLDEN_KEY.encode(), message, hashlib.sha256).hexdigest() == GOLDEN_MAC
    AuditRecord.objects.create(
        seq=1,
        created=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        action="project.create",
        actor_id=42,
        actor_name="olivia",
        project_id=7,
        project_slug="healthai",
        payload_enc=crypto.encrypt(
            json.dumps({"name": "Health AI", "count": 3}), context="audit:1:payload"
        ),
        mac_key_id="golden",
        prev_mac="0" * 64,
        mac=GOLDEN_MAC,
    )
    AuditHead.objects.create(id=1, seq=1, mac=GOLDEN_MAC)
    assert audit_verify() == VerifyResult(True, 1)


def test_a_record_without_a_signed_in_actor_names_nobody(project, owner):
    from django.contrib.auth.models import AnonymousUser

    for actor in (None, AnonymousUser()):
        record = audit_record(action="system.event", actor=actor, project=project)
        assert (record.actor_id, record.actor_name) == (None, "")
    assert audit_record(action="user.event", actor=owner).actor_name == "olivia"
    assert audit_verify().ok


def test_records_deleted_from_the_end_are_reported_with_where_the_chain_stops(seq):
    last = seq + 2
    AuditRecord.objects.filter(seq__gte=last - 1).delete()
    assert audit_verify() == VerifyResult(
        False,
        last - 2,
        last - 1,
        f"the chain ends at #{last - 2} but #{last} was written (records deleted from the end)",
    )


def test_a_payload_copied_from_another_record_cannot_be_decrypted_there(seq):
    """Each ciphertext is bound to its record's seq: a copy is refused before any MAC."""
    donor = AuditRecord.objects.get(seq=seq - 1)
    AuditRecord.objects.filter(seq=seq).update(payload_enc=donor.payload_enc)
    assert audit_verify() == VerifyResult(
        False, seq - 1, seq, "its payload cannot be decrypted (edited or foreign ciphertext)"
    )


def test_payload_values_json_cannot_hold_are_recorded_as_text(owner):
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ident = UUID("12345678-1234-5678-1234-567812345678")
    record = audit_record(action="test.values", actor=owner, payload={"at": when, "id": ident})
    assert audit_payload(AuditRecord.objects.get(pk=record.pk)) == {
        "at": "2026-01-02 03:04:05+00:00",
        "id": "12345678-1234-5678-1234-567812345678",
    }
    assert audit_verify().ok


@pytest.mark.parametrize(
    "change", [{"seq": F("seq") + 1}, {"mac": "f" * 64}], ids=["count", "link"]
)
def test_a_chain_head_out_of_step_with_the_last_record_is_reported(seq, change):
    last = seq + 2
    AuditHead.objects.filter(id=1).update(**change)
    result = audit_verify()
    assert (result.ok, result.checked, result.first_bad_seq) == (False, last, last + 1)
    assert result.reason.startswith(f"the chain ends at #{last} but #")
