"""Delivery actions in the web UI (CSRF-protected), mounted at the root."""

from django.urls import path

from provisioning import webhook_views

app_name = "deliveries"

urlpatterns = [
    path(
        "p/<slug:slug>/deliveries/<int:delivery_id>/replay/",
        webhook_views.delivery_replay,
        name="delivery-replay",
    ),
]
