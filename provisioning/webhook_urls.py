"""Receiver URLs, mounted under /hooks/. The project is named by its UUID, not its slug,
so a URL reveals nothing; it works with or without the trailing slash (a forge does not
follow the redirect APPEND_SLASH would send)."""

from django.urls import path

from provisioning import webhook_views

app_name = "webhooks"

urlpatterns = [
    path("<str:provider>/<uuid:project_uid>/", webhook_views.webhook_receive_view, name="receive"),
    path(
        "<str:provider>/<uuid:project_uid>",
        webhook_views.webhook_receive_view,
        name="receive-no-slash",
    ),
]
