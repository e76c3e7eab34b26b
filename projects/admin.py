"""Django admin for platform owners. Credentials are write-only here too."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from bmadweb.audit import audit_record
from projects import services
from projects.models import SECRET_FIELDS, ManifestRevision, Membership, Project
from projects.roles import Role


class ProjectAdminForm(forms.ModelForm):
    """Each credential is a write-only field: empty keeps the stored value."""

    class Meta:
        model = Project
        fields = ["slug", *services.EDITABLE_FIELDS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field, label in SECRET_FIELDS.items():
            is_set = bool(self.instance.pk and self.instance.has_secret(field))
            self.fields[
                f"secret_{field}"
            ].help_text = (
                f"{label}. Currently {'set' if is_set else 'not set'}; leave empty to keep it."
            )


# One write-only input and one "clear" box per credential, declared on the class so the
# admin's fieldsets can name them.
for _field in SECRET_FIELDS:
    for _name, _form_field in (
        (
            f"secret_{_field}",
            forms.CharField(
                label=_field.replace("_", " ").capitalize(),
                required=False,
                strip=True,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
            ),
        ),
        (
            f"clear_{_field}",
            forms.BooleanField(label=f"Clear the {_field.replace('_', ' ')}", required=False),
        ),
    ):
        ProjectAdminForm.base_fields[_name] = _form_field
        ProjectAdminForm.declared_fields[_name] = _form_field


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "group", "role"]
    autocomplete_fields = ["user", "group"]


@admin.register(Project)
class ProjectAdmin(GuardedModelAdmin):
    form = ProjectAdminForm
    list_display = ["name", "slug", "sync_status", "bmad_version", "forge_kind", "last_push_at"]
    list_filter = ["sync_status", "forge_kind", "push_mode"]
    search_fields = ["name", "slug", "repo_url"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = [
        "sync_status",
        "bmad_version",
        "bmad_generation",
        "last_analyzed_at",
        "last_push_at",
        "created_at",
        "updated_at",
    ]
    inlines = [MembershipInline]

    def get_fieldsets(self, request: HttpRequest, obj: Project | None = None) -> Any:
        secrets = [f"{p}_{f}" for f in SECRET_FIELDS for p in ("secret", "clear")]
        return [
            (None, {"fields": ["name", "slug", "repo_url", "default_branch"]}),
            (
                "Forge and push",
                {"fields": ["forge_kind", "forge_api_url", "push_mode", "require_approval"]},
            ),
            ("Credentials (write-only)", {"fields": secrets}),
            ("Status", {"fields": self.readonly_fields}),
        ]

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        changed_secrets = []
        if change:  # credentials follow their target (services.credentials_left_behind)
            before = (form.initial.get("repo_url", ""), form.initial.get("forge_api_url", ""))
            after = (obj.repo_url, obj.forge_api_url)
            for field in services.credentials_left_behind(before=before, after=after, project=obj):
                if not form.cleaned_data.get(f"secret_{field}"):
                    obj.set_secret(field, "")
                    changed_secrets.append(field)
                    self.message_user(
                        request,
                        f"{SECRET_FIELDS[field]} was cleared: it was made for the old "
                        "address. Enter it again.",
                        level=messages.WARNING,
                    )
        for field in SECRET_FIELDS:
            if form.cleaned_data.get(f"clear_{field}"):
                obj.set_secret(field, "")
                changed_secrets.append(field)
            elif form.cleaned_data.get(f"secret_{field}"):
                obj.set_secret(field, form.cleaned_data[f"secret_{field}"])
                changed_secrets.append(field)
        super().save_model(request, obj, form, change)
        audit_record(
            action="project.update" if change else "project.create",
            actor=request.user,
            project=obj,
            payload={
                "via": "admin",
                "fields": sorted(form.changed_data),
                "secrets_changed": changed_secrets,
            },
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Role changes go through the role services so guardian permissions and the audit
        # log follow the Membership rows.
        instances = formset.save(commit=False)
        project = form.instance
        for membership in formset.deleted_objects:
            try:
                services.role_revoke(
                    actor=request.user,
                    project=project,
                    role=Role(membership.role),
                    user=membership.user,
                    group=membership.group,
                )
            except services.LastOwner as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
        for membership in instances:
            if membership.pk:
                old = Membership.objects.get(pk=membership.pk)
                try:
                    services.role_revoke(
                        actor=request.user,
                        project=project,
                        role=Role(old.role),
                        user=old.user,
                        group=old.group,
                    )
                except services.LastOwner as exc:
                    self.message_user(request, str(exc), level=messages.ERROR)
                    continue
            services.role_grant(
                actor=request.user,
                project=project,
                role=Role(membership.role),
                user=membership.user,
                group=membership.group,
            )

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.project_delete(actor=request.user, project=obj)


@admin.register(ManifestRevision)
class ManifestRevisionAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "author_name", "message", "created"]
    list_filter = ["project"]
    search_fields = ["project__slug", "message", "sha256"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revisions are immutable history

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # new revisions come from the manifest editor, API or CLI (validated)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "group", "role", "created"]
    list_filter = ["role", "project"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # edit roles on the project page, so permissions stay in sync

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
