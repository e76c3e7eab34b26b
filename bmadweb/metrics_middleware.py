"""Request latency for /metrics, labelled by URL pattern name (never the raw path)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from bmadweb.metrics import request_observe


def route_of(request: HttpRequest) -> str:
    """The matched URL pattern's name, or "unmatched" (404s, static files)."""
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else "unmatched"


class RequestLatencyMiddleware:
    """Time each request from (almost) the top of the stack to its response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        request_observe(
            method=request.method or "",
            route=route_of(request),
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response
