"""Write an audit checkpoint now (the scheduler writes one every
BMADWEB_AUDIT_CHECKPOINT_SECONDS): the chain's length and head MAC, signed, in the chain
and in the server log (docs/security.md#s21)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from bmadweb.audit_checkpoint import audit_checkpoint


class Command(BaseCommand):
    help = "Append a signed checkpoint of the audit chain's length and head."

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoint = audit_checkpoint()
        self.stdout.write(checkpoint.line())
