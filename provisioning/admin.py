"""Runs, webhook deliveries and discovery sources in the admin: read-only history (a
source is added on the discovery page, which checks its address and audits it)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from bmadweb.admin_readonly import ViewOnlyAdmin
from provisioning.models import ForgeSource, Run, RunLogEntry, WebhookDelivery
from provisioning.runs.lifecycle import project_pr_state_refresh
from provisioning.webhooks.replay import WebhookReplayError, webhook_replay


class RunLogInline(admin.TabularInline):
    model = RunLogEntry
    fields = ("at", "level", "message")
    readonly_fields = ("at", "level", "message")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "kind",
        "status",
        "trigger",
        "actor_name",
        "created",
        "finished",
    ]
    list_filter = ["kind", "status", "trigger"]
    search_fields = ["project__slug", "branch", "commit_sha"]
    readonly_fields = tuple(f.name for f in Run._meta.fields)
    inlines = [RunLogInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # A deleted run may have held its project's newest pull request (Project.pr_state).
    def delete_model(self, request: HttpRequest, obj: Run) -> None:
        super().delete_model(request, obj)
        project_pr_state_refresh([obj.project_id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        project_ids = sorted(set(queryset.values_list("project_id", flat=True)))
        super().delete_queryset(request, queryset)
        project_pr_state_refresh(project_ids)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The webhook ledger: read-only, with a replay action for platform owners."""

    list_display = [
        "id",
        "received",
        "project",
        "provider",
        "event",
        "outcome",
        "status_code",
        "signature_ok",
        "duplicate",
        "run",
        "replay_of",
        "pending",
    ]
    list_filter = ["outcome", "pending", "provider", "signature_ok", "duplicate", "event"]
    search_fields = ["project__slug", "delivery_id", "after_sha", "ref"]
    list_select_related = ["project", "run"]
    exclude = ["body"]
    readonly_fields = tuple(f.name for f in WebhookDelivery._meta.fields if f.name != "body")
    actions = ["replay_deliveries"]
    date_hierarchy = "received"

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return super().get_queryset(request).defer("body")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Replay selected deliveries")
    def replay_deliveries(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset.defer(None).order_by("received", "id"):
            try:
                result = webhook_replay(delivery=delivery, actor=request.user)
            except WebhookReplayError as exc:
                self.message_user(request, f"#{delivery.pk}: {exc}", messages.WARNING)
            else:
                self.message_user(
                    request, f"#{delivery.pk} replayed: {result.outcome} ({result.detail})"
                )


@admin.register(ForgeSource)
class ForgeSourceAdmin(ViewOnlyAdmin):
    """Organisations and groups staff discovered; the token itself is never shown."""

    list_display = ["id", "org_url", "kind", "api_url", "has_token", "created_by", "created"]
    list_filter = ["kind"]
    search_fields = ["org_url", "api_url"]
    list_select_related = ["created_by"]
    exclude = ["token_enc"]
    readonly_fields = ("kind", "org_url", "api_url", "created_by", "created", "has_token")

    @admin.display(boolean=True, description="token")
    def has_token(self, source: ForgeSource) -> bool:
        return bool(source.token_enc)
