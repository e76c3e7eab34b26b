"""Verify the audit chain; exit 1 naming the first broken record."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bmadweb import crypto
from bmadweb.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Check every audit record's MAC chain and report the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = audit_chain_verify()
        except crypto.KeyConfigError as exc:
            raise CommandError(str(exc)) from None
        if result.ok:
            self.stdout.write(
                self.style.SUCCESS(f"Audit chain intact: {result.checked} records verified.")
            )
            return
        self.stderr.write(
            self.style.ERROR(
                f"Audit chain broken at record #{result.first_bad_seq}: {result.reason}. "
                f"{result.checked} records before it verified."
            )
        )
        raise SystemExit(1)
