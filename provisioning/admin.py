"""Runs in the admin: read-only history with their logs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from provisioning.models import Run, RunLogEntry


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
