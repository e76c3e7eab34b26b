"""Webhook routes.

`receiver_urlpatterns` are mounted under /hooks/: the project is named by its UUID, not
its slug, so a URL reveals nothing, and each works with or without the trailing slash (a
forge does not follow the redirect APPEND_SLASH would send). They are the only views
exempt from CSRF, since a forge signs its deliveries instead.

`urlpatterns` are the delivery actions of the web UI (CSRF-protected), mounted at the root.
"""

from django.urls import path

from provisioning.webhooks import views

receiver_urlpatterns = (
    [
        path("<str:provider>/<uuid:project_uid>/", views.webhook_receive_view, name="receive"),
        path(
            "<str:provider>/<uuid:project_uid>",
            views.webhook_receive_view,
            name="receive-no-slash",
        ),
    ],
    "webhooks",
)

urlpatterns = (
    [
        path(
            "p/<slug:slug>/deliveries/<int:delivery_id>/replay/",
            views.delivery_replay,
            name="delivery-replay",
        ),
    ],
    "deliveries",
)
