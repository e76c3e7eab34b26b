"""Operators' endpoints: liveness, readiness and Prometheus metrics.

None of them needs a session. /health and /health/ready are public and carry no secrets
(check names and fixed phrases only); /metrics answers 404 unless the request brings the
bearer token BMADWEB_METRICS_TOKEN or, with BMADWEB_METRICS_ALLOW_INTERNAL on, comes
straight from a loopback address (not through a proxy).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from bmadweb import crypto
from bmadweb.metrics import metrics_text
from bmadweb.selectors import readiness_get

PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers. Touches neither the database nor Redis."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def health_ready(request: HttpRequest) -> JsonResponse:
    """Ready: database, Redis, a live worker and usable keys, answered within a second."""
    report = readiness_get()
    body = {
        "status": "ok" if report.ok else "fail",
        "failed": report.failed,
        "checks": {
            name: {"ok": r.ok, "ms": r.ms, **({"error": r.error} if r.error else {})}
            for name, r in report.checks.items()
        },
    }
    return JsonResponse(body, status=200 if report.ok else 503)


def _bearer_ok(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not supplied.strip():
        return False
    return crypto.constant_time_equal(supplied.strip(), expected)


def _internal_ok(request: HttpRequest) -> bool:
    if not settings.METRICS_ALLOW_INTERNAL:
        return False
    if any(header in request.headers for header in PROXY_HEADERS):
        return False  # relayed by a proxy: the real client may be anywhere
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; 404 to anyone without the token or internal access."""
    if not (_bearer_ok(request) or _internal_ok(request)):
        raise Http404("Not found.")
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
