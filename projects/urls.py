from django.urls import path

from projects import base_views, manifest_views, views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/new/", views.project_create, name="project-create"),
    path("schema/manifest-v1.json", manifest_views.manifest_schema, name="manifest-schema"),
    path("bases/", base_views.base_index, name="base-index"),
    path("bases/<slug:name>/", base_views.base_edit, name="base-edit"),
    path("p/<slug:slug>/", views.project_detail, name="project-detail"),
    path("p/<slug:slug>/settings/", views.project_settings, name="project-settings"),
    path("p/<slug:slug>/credentials/", views.project_credentials, name="project-credentials"),
    path("p/<slug:slug>/webhook/", views.project_webhook, name="project-webhook"),
    path("p/<slug:slug>/webhook/regenerate/", views.webhook_regenerate, name="webhook-regenerate"),
    path("p/<slug:slug>/members/", views.member_list, name="member-list"),
    path(
        "p/<slug:slug>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member-remove",
    ),
    path("p/<slug:slug>/delete/", views.project_delete, name="project-delete"),
    path("p/<slug:slug>/audit/", views.project_audit, name="project-audit"),
    path("p/<slug:slug>/skills/", views.project_skills, name="project-skills"),
    path("p/<slug:slug>/manifest/", manifest_views.manifest_edit, name="manifest-edit"),
    path(
        "p/<slug:slug>/manifest/validate/",
        manifest_views.manifest_validate,
        name="manifest-validate",
    ),
    path(
        "p/<slug:slug>/manifest/preview/", manifest_views.manifest_preview, name="manifest-preview"
    ),
    path(
        "p/<slug:slug>/manifest/history/", manifest_views.manifest_history, name="manifest-history"
    ),
    path(
        "p/<slug:slug>/manifest/compare/", manifest_views.manifest_compare, name="manifest-compare"
    ),
    path(
        "p/<slug:slug>/manifest/restore/", manifest_views.manifest_restore, name="manifest-restore"
    ),
]
