from django.urls import path

from provisioning.notifications import views

app_name = "notifications"

urlpatterns = [
    path(
        "p/<slug:slug>/notifications/",
        views.project_notifications,
        name="project-notifications",
    ),
    path(
        "p/<slug:slug>/notifications/<int:target_id>/",
        views.project_notification_update,
        name="project-notification-update",
    ),
    path(
        "p/<slug:slug>/notifications/<int:target_id>/delete/",
        views.project_notification_delete,
        name="project-notification-delete",
    ),
    path(
        "p/<slug:slug>/notifications/<int:target_id>/test/",
        views.project_notification_test,
        name="project-notification-test",
    ),
    path(
        "p/<slug:slug>/notifications/sent/<int:notification_id>/retry/",
        views.project_notification_retry,
        name="project-notification-retry",
    ),
    path("bases/<slug:name>/notifications/", views.base_notifications, name="base-notifications"),
    path(
        "bases/<slug:name>/notifications/<int:target_id>/",
        views.base_notification_update,
        name="base-notification-update",
    ),
    path(
        "bases/<slug:name>/notifications/<int:target_id>/delete/",
        views.base_notification_delete,
        name="base-notification-delete",
    ),
    path(
        "bases/<slug:name>/notifications/<int:target_id>/test/",
        views.base_notification_test,
        name="base-notification-test",
    ),
    path(
        "bases/<slug:name>/notifications/sent/<int:notification_id>/retry/",
        views.base_notification_retry,
        name="base-notification-retry",
    ),
]
