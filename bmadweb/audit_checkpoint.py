"""Audit checkpoints: the chain's length and head, signed at intervals, so that removing
records from the end of the chain is detected (docs/security.md#s21).

The head row alone cannot reveal a truncation by someone who rewinds it too. So every
BMADWEB_AUDIT_CHECKPOINT_SECONDS a checkpoint is written three times:

* as a record of the chain (`audit.checkpoint`, payload: length and head MAC), which the
  chain's own MAC signs;
* as a line in the server log, with its own HMAC, for copies kept outside the database;
* as the anchor in Redis (by the scheduled job), also signed.

A new checkpoint is refused while the chain no longer extends the previous anchor, so a
shortened chain is never papered over. `audit_verify --since-checkpoint` checks the chain
against the newest checkpoint it can trust (a copy from the log given on the command
line, the Redis anchor, or the last record), and /metrics exports the chain's length and
head so an alert fires when the chain shrinks.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from bmadweb import crypto
from bmadweb.audit import (
    GENESIS,
    VerifyResult,
    audit_record,
    audit_verify,
    stored_payload,
    stored_records,
)
from bmadweb.models import AuditHead, AuditRecord

logger = logging.getLogger(__name__)

CHECKPOINT = "audit.checkpoint"
_LINE = re.compile(
    r"seq=(?P<seq>\d{1,18}) mac=(?P<mac>[0-9a-f]{64}) at=(?P<at>\S+) "
    r"record=(?P<record>\d{1,18}) signature=(?P<key>[^:\s]{1,32}):(?P<sig>[0-9a-f]{64})"
)


class AuditChainShrank(Exception):
    """The chain no longer extends a checkpoint taken earlier."""


@dataclass(frozen=True)
class ChainHead:
    seq: int
    mac: str


@dataclass(frozen=True)
class Checkpoint:
    """The chain held `seq` records ending in `mac` at `created`; written as record
    `record_seq`."""

    record_seq: int
    created: datetime
    seq: int
    mac: str

    def _body(self) -> bytes:
        at = self.created.isoformat()
        return f"checkpoint|{self.seq}|{self.mac}|{at}|{self.record_seq}".encode()

    def line(self) -> str:
        """The signed text form (server log, Redis anchor, `--checkpoint`)."""
        key_id = crypto.audit_signing_key_id()
        signature = crypto.audit_mac(key_id, self._body())
        return (
            f"seq={self.seq} mac={self.mac} at={self.created.isoformat()} "
            f"record={self.record_seq} signature={key_id}:{signature}"
        )


def checkpoint_parse(line: str) -> Checkpoint:
    """A checkpoint from its signed line; ValueError when malformed or not signed by a
    configured audit key."""
    match = _LINE.search(line or "")
    if match is None:
        raise ValueError("not an audit checkpoint line")
    try:
        created = datetime.fromisoformat(match["at"])
    except ValueError:
        raise ValueError("the checkpoint's time is not a timestamp") from None
    checkpoint = Checkpoint(int(match["record"]), created, int(match["seq"]), match["mac"])
    try:
        expected = crypto.audit_mac(match["key"], checkpoint._body())
    except crypto.KeyConfigError:
        raise ValueError(f"the checkpoint is signed with unknown key {match['key']!r}") from None
    if not crypto.constant_time_equal(expected, match["sig"]):
        raise ValueError("the checkpoint's signature does not match")
    return checkpoint


def audit_head() -> ChainHead:
    """The chain's length and the MAC of its last record, as the head row says."""
    head = AuditHead.objects.filter(id=1).values_list("seq", "mac").first()
    return ChainHead(head[0], head[1] or GENESIS) if head else ChainHead(0, GENESIS)


def chain_extends(checkpoint: Checkpoint) -> str:
    """ "" when the chain still holds the checkpoint's record `seq` with its MAC."""
    if checkpoint.seq == 0:
        return ""
    macs = list(AuditRecord.objects.filter(seq=checkpoint.seq).values_list("mac", flat=True))
    if not macs:
        return f"record #{checkpoint.seq}, which the checkpoint saw, is gone"
    if macs != [checkpoint.mac]:
        return f"record #{checkpoint.seq} no longer carries the MAC the checkpoint saw"
    return ""


def audit_checkpoint(*, previous: Checkpoint | None = None) -> Checkpoint:
    """Append a checkpoint of the chain's length and head MAC and log its signed line.

    Raises AuditChainShrank (and writes nothing) when the chain no longer extends
    `previous`, an anchor kept outside the database."""
    with transaction.atomic():
        head = AuditHead.objects.select_for_update().get_or_create(id=1)[0]
        if previous is not None and (problem := chain_extends(previous)):
            logger.critical("audit chain shrank since checkpoint seq=%d: %s", previous.seq, problem)
            raise AuditChainShrank(problem)
        seq, mac = head.seq, head.mac or GENESIS
        record = audit_record(action=CHECKPOINT, payload={"seq": seq, "mac": mac})
    checkpoint = Checkpoint(record.seq, record.created, seq, mac)
    logger.info("audit checkpoint %s", checkpoint.line())
    return checkpoint


def audit_last_checkpoint() -> Checkpoint | None:
    """The newest readable checkpoint record of the chain, or None."""
    records = AuditRecord.objects.filter(action=CHECKPOINT).order_by("-seq")
    for record in stored_records(records, window=slice(0, 20)):
        try:
            payload = stored_payload(record)
        except crypto.CryptoError:
            continue
        seq, mac = payload.get("seq"), payload.get("mac")
        if record.seq and record.created and type(seq) is int and isinstance(mac, str):
            return Checkpoint(record.seq, record.created, seq, mac)
    return None


def audit_verify_since_checkpoint(
    *, max_age: timedelta, anchor: Checkpoint | None = None
) -> VerifyResult:
    """Check the chain against the newest trusted checkpoint: the chain's last one is at
    most `max_age` old (a scheduler that stopped, or checkpoints removed with the end of
    the chain), the newer of it and `anchor` (a signed copy from outside the database)
    names a record that still carries the MAC it saw, and every record after it links
    and verifies."""
    last = audit_last_checkpoint()
    if last is None and anchor is None:
        return VerifyResult(False, 0, None, "there is no checkpoint: run a full check")
    if last is not None and (age := timezone.now() - last.created) > max_age:
        return VerifyResult(
            False,
            0,
            last.record_seq,
            f"the last checkpoint (record #{last.record_seq}) is {int(age.total_seconds())} s "
            f"old, more than {int(max_age.total_seconds())} s: the scheduler stopped, or "
            "records after a newer one were removed",
        )
    candidates = [c for c in (anchor, last) if c is not None]
    checkpoint = max(candidates, key=lambda c: c.seq)
    if problem := chain_extends(checkpoint):
        return VerifyResult(False, 0, checkpoint.seq, f"{problem} (records removed?)")
    return audit_verify(after_seq=checkpoint.seq, after_mac=checkpoint.mac)
