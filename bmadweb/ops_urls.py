"""Operators' URLs, mounted at the site root: /health, /health/ready, /metrics, /audit."""

from django.urls import path

from bmadweb import audit_views, ops

app_name = "ops"

urlpatterns = [
    path("health", ops.health, name="health"),
    path("health/ready", ops.health_ready, name="health-ready"),
    path("metrics", ops.metrics, name="metrics"),
    path("audit", audit_views.audit_list, name="audit-list"),
    path("audit/verify", audit_views.audit_verify_view, name="audit-verify"),
]
