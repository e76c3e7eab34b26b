"""Django admin for platform owners. Credentials are write-only here too.

Every change goes through the project services (projects.services), as on the team
lead's pages: the same validation, the same audit records, the same rules (webhook
secrets are generated, never typed; a project keeps an owner).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from guardian.admin import GuardedModelAdmin

from bmadweb.admin_readonly import ViewOnlyAdmin
from projects import services
from projects.models import (
    SECRET_FIELDS,
    BaseManifest,
    BaseManifestRevision,
    ManifestRevision,
    Membership,
    Project,
)
from projects.roles import Role
from projects.selectors import base_lookup
from provisioning.engine.extends import check_base

ROLES_REFUSED = "_bmadweb_roles_refused"  # request attribute: the role services said no


class ProjectAdminForm(forms.ModelForm):
    """Each typed credential is a write-only field: empty keeps the stored value. Webhook
    secrets are generated on the project's webhook page; here they can only be cleared."""

    class Meta:
        model = Project
        fields = ["slug", *services.EDITABLE_FIELDS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field, label in SECRET_FIELDS.items():
            is_set = bool(self.instance.pk and self.instance.has_secret(field))
            status = f"{label}. Currently {'set' if is_set else 'not set'}"
            if field in services.TYPED_SECRET_FIELDS:
                self.fields[f"secret_{field}"].help_text = f"{status}; leave empty to keep it."
            elif self.instance.pk:
                page = reverse("projects:project-webhook", kwargs={"slug": self.instance.slug})
                self.fields[f"clear_{field}"].help_text = format_html(
                    '{}; generated, never typed: <a href="{}">regenerate it</a>.', status, page
                )
            else:
                self.fields[f"clear_{field}"].help_text = f"{status}; generated, never typed."

    def secret_changes(self) -> dict[str, str]:
        """Credential → new value ("" clears) for the credentials the person touched."""
        out: dict[str, str] = {}
        for field in SECRET_FIELDS:
            if self.cleaned_data.get(f"clear_{field}"):
                out[field] = ""
            elif self.cleaned_data.get(f"secret_{field}"):
                out[field] = self.cleaned_data[f"secret_{field}"]
        return out


# One write-only input per typed credential and one "clear" box per credential, declared
# on the class so the admin's fieldsets can name them.
for _field in SECRET_FIELDS:
    _declared: list[tuple[str, forms.Field]] = []
    if _field in services.TYPED_SECRET_FIELDS:
        _declared.append(
            (
                f"secret_{_field}",
                forms.CharField(
                    label=_field.replace("_", " ").capitalize(),
                    required=False,
                    strip=True,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                ),
            )
        )
    _declared.append(
        (
            f"clear_{_field}",
            forms.BooleanField(label=f"Clear the {_field.replace('_', ' ')}", required=False),
        )
    )
    for _name, _form_field in _declared:
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
        secrets = [
            name
            for f in SECRET_FIELDS
            for name in (f"secret_{f}", f"clear_{f}")
            if name in ProjectAdminForm.declared_fields
        ]
        return [
            (None, {"fields": ["name", "slug", "repo_url", "default_branch"]}),
            (
                "Forge and push",
                {
                    "fields": [
                        "forge_kind",
                        "forge_api_url",
                        "push_mode",
                        "require_approval",
                        "upgrades_skip_approval",
                    ]
                },
            ),
            ("Credentials (write-only)", {"fields": secrets}),
            ("Status", {"fields": self.readonly_fields}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> Any:
        # The slug is set once, as on the team lead's pages: it names the project's URLs
        # and the branches its runs push (bmadweb/<slug>/…).
        return [*self.readonly_fields, "slug"] if obj is not None else self.readonly_fields

    def get_prepopulated_fields(
        self, request: HttpRequest, obj: Project | None = None
    ) -> dict[str, Any]:
        return {} if obj is not None else dict(self.prepopulated_fields)

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        data = form.cleaned_data
        fields = {f: data[f] for f in services.EDITABLE_FIELDS if f in data}
        secrets = form.secret_changes()
        if change:
            # The form has copied its values onto `obj`; the service compares them with
            # the stored row, so it gets a fresh one. Credentials follow their target: the
            # service clears those made for an old address (services.credentials_left_behind).
            updated = services.project_update(
                actor=request.user, project=Project.objects.get(pk=obj.pk), **fields
            )
            project = updated.project
            for field in updated.credentials_cleared:
                if field not in secrets:
                    self.message_user(
                        request,
                        f"{SECRET_FIELDS[field]} was cleared: it was made for the old "
                        "address. Enter it again.",
                        level=messages.WARNING,
                    )
        else:
            project = services.project_create(actor=request.user, slug=data["slug"], **fields)
        for field, value in secrets.items():
            services.project_secret_set(
                actor=request.user, project=project, field=field, value=value
            )
        # The admin goes on with `obj` (inlines, history, messages): make it the saved row.
        obj.pk = project.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Role changes go through the role services, so guardian permissions and the audit
        # log follow the Membership rows and the project keeps an owner. Grants come
        # first: handing the owner role on in one save keeps an owner throughout.
        project = form.instance
        grants = formset.save(commit=False)
        revokes = list(formset.deleted_objects)
        revokes += [Membership.objects.get(pk=m.pk) for m in grants if m.pk]
        try:
            with transaction.atomic():
                for membership in grants:
                    services.role_grant(
                        actor=request.user,
                        project=project,
                        role=Role(membership.role),
                        user=membership.user,
                        group=membership.group,
                    )
                for membership in revokes:
                    services.role_revoke(
                        actor=request.user,
                        project=project,
                        role=Role(membership.role),
                        user=membership.user,
                        group=membership.group,
                    )
        except services.RoleError as exc:
            setattr(request, ROLES_REFUSED, True)
            self.message_user(
                request,
                f"The other changes were saved, the roles were not: {exc}",
                messages.ERROR,
            )

    def response_change(self, request: HttpRequest, obj: Project) -> HttpResponse:
        if getattr(request, ROLES_REFUSED, False):
            return HttpResponseRedirect(request.path)  # back to the roles, with the reason
        return super().response_change(request, obj)

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.project_delete(actor=request.user, project=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        # "Delete selected projects": one audited deletion each, as from the project page.
        for project in queryset:
            services.project_delete(actor=request.user, project=project)


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
class MembershipAdmin(ViewOnlyAdmin):
    """Roles are edited on the project page, so object permissions stay in sync."""

    list_display = ["project", "user", "group", "role", "created"]
    list_filter = ["role", "project"]


class BaseRevisionForm(forms.ModelForm):
    """A new revision typed in the admin goes through the same validated service."""

    class Meta:
        model = BaseManifestRevision
        fields = ["base", "yaml_text", "message"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        base, text = data.get("base"), data.get("yaml_text")
        if base is not None and text:
            errors = check_base(base.name, text, base_lookup())
            if errors:
                raise forms.ValidationError(
                    [f"line {e.line}, column {e.column}: {e.message}" for e in errors]
                )
        return data


@admin.register(BaseManifest)
class BaseManifestAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created"]
    search_fields = ["name", "description"]


@admin.register(BaseManifestRevision)
class BaseManifestRevisionAdmin(admin.ModelAdmin):
    """Revisions are immutable: adding one saves a new revision through base_save."""

    form = BaseRevisionForm
    list_display = ["base", "number", "author_name", "message", "created"]
    list_filter = ["base"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = services.base_save(
            actor=request.user, name=obj.base.name, yaml_text=obj.yaml_text, message=obj.message
        )
        obj.pk = saved.pk
