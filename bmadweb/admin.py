"""Read-only admin for the audit log (decrypted for platform owners)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from bmadweb.admin_readonly import ViewOnlyAdmin
from bmadweb.models import ApiToken, AuditRecord
from bmadweb.tokens import token_revoke
from projects.selectors import audit_payload_read


@admin.register(AuditRecord)
class AuditRecordAdmin(ViewOnlyAdmin):
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
        payload, reason = audit_payload_read(obj)
        text = (
            json.dumps(payload, indent=2, sort_keys=True)
            if payload is not None
            else f"<cannot decrypt: {reason}>"
        )
        return format_html("<pre>{}</pre>", text)


@admin.register(ApiToken)
class ApiTokenAdmin(ViewOnlyAdmin):
    """Platform owners see every token (never the token itself: only its hash is stored)
    and can revoke tokens; tokens are created by their owners on their account page.
    Revoked, never deleted: a revoked token stays listed and audited."""

    list_display = [
        "name",
        "user",
        "prefix",
        "scopes_display",
        "expires",
        "last_used",
        "revoked_at",
    ]
    list_filter = ["revoked_at", "scope_write", "scope_run"]
    search_fields = ["name", "prefix", "user__username"]
    fields = (
        "user",
        "name",
        "prefix",
        "token_hash",
        "scope_read",
        "scope_write",
        "scope_run",
        "created",
        "expires",
        "last_used",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke_tokens"]

    @admin.display(description="Scopes")
    def scopes_display(self, obj: ApiToken) -> str:
        return ", ".join(obj.scopes)

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            token_revoke(token=token, actor=request.user)
            count += 1
        self.message_user(request, f"{count} token(s) revoked.")
