"""Read-only admin for the audit log (decrypted for platform owners)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from bmadweb import crypto
from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ["seq", "created", "action", "actor_name", "project_slug"]
    list_filter = ["action"]
    search_fields = ["action", "actor_name", "project_slug"]
    fields = (
        "seq",
        "created",
        "action",
        "actor_name",
        "project_slug",
        "payload",
        "mac_key_id",
        "prev_mac",
        "mac",
    )
    readonly_fields = fields

    @admin.display(description="Payload (decrypted)")
    def payload(self, obj: AuditRecord) -> str:
        try:
            text = json.dumps(audit_payload(obj), indent=2, sort_keys=True)
        except crypto.CryptoError as exc:
            text = f"<cannot decrypt: {exc}>"
        return format_html("<pre>{}</pre>", text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
