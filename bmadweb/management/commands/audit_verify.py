"""Verify the audit chain; exit 1 naming the first broken or damaged record."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bmadweb import crypto
from bmadweb.audit_checkpoint import Checkpoint, checkpoint_parse
from bmadweb.selectors import audit_chain_verify, audit_chain_verify_since_checkpoint
from provisioning.queue import audit_anchor_get


class Command(BaseCommand):
    help = (
        "Check every audit record's MAC chain and report the first broken link. With "
        "--since-checkpoint, check the chain from the last checkpoint on (fast), and fail "
        "when that checkpoint is older than --max-age seconds (records removed from the "
        "end take the newer checkpoints with them)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since-checkpoint", action="store_true")
        parser.add_argument(
            "--checkpoint",
            default="",
            help="a signed checkpoint line from the server log (implies --since-checkpoint); "
            "without it the anchor kept in Redis is used when it is reachable",
        )
        parser.add_argument(
            "--max-age",
            type=int,
            default=None,
            help="seconds a checkpoint stays fresh (default: twice the checkpoint interval "
            "plus five minutes)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        max_age = options["max_age"] or 2 * settings.AUDIT_CHECKPOINT_SECONDS + 300
        try:
            if options["since_checkpoint"] or options["checkpoint"]:
                anchor = self._anchor(options["checkpoint"])
                result = audit_chain_verify_since_checkpoint(
                    max_age=timedelta(seconds=max_age), anchor=anchor
                )
            else:
                result = audit_chain_verify()
        except crypto.KeyConfigError as exc:
            raise CommandError(str(exc)) from None
        if result.ok:
            since = options["since_checkpoint"] or options["checkpoint"]
            scope = "records since the last checkpoint" if since else "records"
            self.stdout.write(
                self.style.SUCCESS(f"Audit chain intact: {result.checked} {scope} verified.")
            )
            return
        where = f"at record #{result.first_bad_seq}" if result.first_bad_seq else "check failed"
        self.stderr.write(
            self.style.ERROR(
                f"Audit chain broken {where}: {result.reason}. "
                f"{result.checked} records before it verified."
            )
        )
        raise SystemExit(1)

    def _anchor(self, line: str) -> Checkpoint | None:
        if not line:
            return audit_anchor_get()
        try:
            return checkpoint_parse(line)
        except ValueError as exc:
            raise CommandError(f"--checkpoint: {exc}") from None
