"""Truncation of the audit chain is detectable (docs/security.md#s21): signed
checkpoints of its length and head (in the chain, the server log and Redis),
`audit_verify --since-checkpoint`, and the length and head on /metrics."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from bmadweb.audit import audit_record, audit_verify
from bmadweb.audit_checkpoint import (
    AuditChainShrank,
    audit_checkpoint,
    audit_verify_since_checkpoint,
    checkpoint_parse,
)
from bmadweb.models import AuditHead, AuditRecord

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def _write(n: int) -> None:
    for i in range(n):
        audit_record(action="test.event", payload={"i": i})


def _truncate_to(seq: int) -> None:
    """What someone with the database does: delete the tail and rewind the head row."""
    last = AuditRecord.objects.get(seq=seq)
    AuditRecord.objects.filter(seq__gt=seq).delete()
    AuditHead.objects.filter(id=1).update(seq=seq, mac=last.mac)


def test_a_truncated_chain_with_a_rewound_head_passes_the_full_check():
    """The control: this is the attack the checkpoints are for."""
    _write(6)
    _truncate_to(4)
    assert audit_verify().ok


def test_checkpoint_names_length_and_head_and_logs_a_signed_line(caplog):
    _write(3)
    head = AuditHead.objects.get(id=1)
    with caplog.at_level(logging.INFO, logger="bmadweb.audit_checkpoint"):
        checkpoint = audit_checkpoint()
    assert (checkpoint.seq, checkpoint.mac) == (3, head.mac)
    assert checkpoint.record_seq == 4
    line = next(r.getMessage() for r in caplog.records if "audit checkpoint" in r.message)
    assert checkpoint_parse(line) == checkpoint
    assert audit_verify().ok  # the checkpoint is a link of the chain


def test_a_checkpoint_line_with_an_edited_field_is_refused():
    _write(2)
    line = audit_checkpoint().line()
    for edit in (line.replace("seq=2", "seq=1"), line.replace("record=3", "record=9")):
        with pytest.raises(ValueError, match="signature"):
            checkpoint_parse(edit)
    with pytest.raises(ValueError, match="not an audit checkpoint"):
        checkpoint_parse("seq=2 nonsense")


def test_since_checkpoint_verifies_only_the_records_after_it():
    _write(5)
    audit_checkpoint()
    _write(2)
    result = audit_verify_since_checkpoint(max_age=HOUR)
    assert result.ok
    assert result.checked == 3  # the checkpoint record and the two after it


def test_truncation_below_a_kept_checkpoint_is_detected():
    _write(5)
    anchor = audit_checkpoint()  # as kept in the server log or Redis
    _write(3)
    _truncate_to(4)  # removes record #5, which the checkpoint saw, and all after it
    assert audit_verify().ok
    result = audit_verify_since_checkpoint(max_age=HOUR, anchor=anchor)
    assert not result.ok
    assert result.first_bad_seq == 5
    assert "gone" in result.reason


def test_no_new_checkpoint_is_written_over_a_shortened_chain():
    _write(5)
    anchor = audit_checkpoint()
    _write(2)
    _truncate_to(3)
    before = AuditRecord.objects.count()
    with pytest.raises(AuditChainShrank):
        audit_checkpoint(previous=anchor)
    assert AuditRecord.objects.count() == before


def test_a_stale_last_checkpoint_fails_the_check(monkeypatch):
    _write(3)
    audit_checkpoint()
    later = timezone.now() + 3 * HOUR
    monkeypatch.setattr("bmadweb.audit_checkpoint.timezone.now", lambda: later)
    result = audit_verify_since_checkpoint(max_age=2 * HOUR)
    assert not result.ok
    assert "old" in result.reason


def test_without_any_checkpoint_the_check_says_so():
    _write(2)
    result = audit_verify_since_checkpoint(max_age=HOUR)
    assert not result.ok
    assert "no checkpoint" in result.reason


def test_command_since_checkpoint_with_a_line_from_the_log(capsys):
    _write(4)
    line = audit_checkpoint().line()
    _write(1)
    call_command("audit_verify", "--checkpoint", line)
    assert "intact" in capsys.readouterr().out
    _truncate_to(3)
    with pytest.raises(SystemExit):
        call_command("audit_verify", "--checkpoint", line)
    assert "#4" in capsys.readouterr().err


def test_the_scheduled_job_keeps_its_anchor_in_redis_and_stops_on_truncation(redis_conn):
    from provisioning import queue
    from provisioning.jobs import audit_checkpoint_job

    _write(5)
    audit_checkpoint_job()
    assert queue.audit_anchor_get() is not None
    _write(2)
    _truncate_to(4)
    with pytest.raises(AuditChainShrank):
        audit_checkpoint_job()
    result = audit_verify_since_checkpoint(max_age=HOUR, anchor=queue.audit_anchor_get())
    assert not result.ok


def test_the_scheduler_registers_the_checkpoint_job(redis_conn, settings):
    from django_rq.cron import DjangoCronScheduler

    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("provisioning.scheduler")
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    job = jobs["provisioning.jobs.audit_checkpoint_job"]
    assert job.interval == settings.AUDIT_CHECKPOINT_SECONDS


def test_metrics_export_the_chain_length_head_and_last_checkpoint(client, settings):
    settings.METRICS_TOKEN = "checkpoint-metrics-token-0123"
    _write(3)
    checkpoint = audit_checkpoint()
    response = client.get(
        reverse("ops:metrics"), HTTP_AUTHORIZATION="Bearer checkpoint-metrics-token-0123"
    )
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }
    head = AuditHead.objects.get(id=1)
    assert values["bmadweb_audit_chain_length"] == head.seq == 4
    assert values["bmadweb_audit_head_mac_prefix"] == int(head.mac[:12], 16)
    assert values["bmadweb_audit_checkpoint_length"] == 3
    assert values["bmadweb_audit_checkpoint_timestamp_seconds"] == pytest.approx(
        checkpoint.created.timestamp()
    )
    _truncate_to(2)
    response = client.get(
        reverse("ops:metrics"), HTTP_AUTHORIZATION="Bearer checkpoint-metrics-token-0123"
    )
    assert "bmadweb_audit_chain_length 2.0" in response.content.decode()
