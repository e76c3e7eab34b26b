"""Re-encrypt every stored value with the first key of BMADWEB_FERNET_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bmadweb import crypto
from bmadweb.services import keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt credentials and audit payloads with the newest key. Put the new key "
        "first in BMADWEB_FERNET_KEYS, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = keys_rotate()
        except crypto.CryptoError as exc:
            raise CommandError(f"Rotation stopped: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted {result.project_values} project credentials, "
                f"{result.notification_values} notification URLs and secrets and "
                f"{result.audit_payloads} audit payloads with the first key."
            )
        )
