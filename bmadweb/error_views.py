"""Styled error pages (403, 404, 500 and the CSRF refusal) with the site's navigation,
under the same strict CSP as every page, in production and with DEBUG on.

Django's own debug pages carry inline styles and scripts that the CSP refuses, so with
DEBUG on ErrorPageMiddleware renders these pages too (a 500 then shows its traceback).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader

logger = logging.getLogger(__name__)

PAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    403: (
        "You may not do this here",
        "Your account does not have the permission this page needs. Ask the project's "
        "owner (or a platform owner) for the role.",
    ),
    404: (
        "Page not found",
        "There is nothing here, or it belongs to a project you cannot see.",
    ),
    500: (
        "Something went wrong on our side",
        "The error was logged. Try again in a moment; if it keeps happening, tell your "
        "platform team what you were doing.",
    ),
}
CSRF_TEXT = (
    "The form expired or came from another page (CSRF check failed). Reload the page and "
    "submit it again."
)


def error_page(
    request: HttpRequest, status: int, *, detail: str = "", debug_trace: str = ""
) -> HttpResponse:
    title, text = PAGES.get(status, PAGES[500])
    context = {
        "status_code": status,
        "error_title": title,
        "error_text": text,
        "detail": detail,
        "debug_trace": debug_trace,
    }
    try:
        body = loader.render_to_string(f"{status}.html", context, request)
    except Exception:  # the page itself failed (a broken database, say): plain text
        logger.exception("the %s page could not be rendered", status)
        return HttpResponse(f"{status} {title}", status=status, content_type="text/plain")
    response = HttpResponse(body, status=status)
    response.bmadweb_error_page = True  # type: ignore[attr-defined]
    return response


def _message(exception: Exception | None) -> str:
    """The exception's message when it is one of ours, written for the person."""
    if exception is None or not exception.args:
        return ""
    text = str(exception.args[0])
    return text if isinstance(exception.args[0], str) and len(text) < 300 else ""


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 403, detail=_message(exception))


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    return error_page(request, 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_page(request, 403, detail=CSRF_TEXT)


class ErrorPageMiddleware:
    """With DEBUG on, answers 403, 404 and 500 with the styled pages instead of Django's
    technical pages (which the CSP would break); does nothing with DEBUG off, where the
    handlers above are used."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not settings.DEBUG or getattr(response, "bmadweb_error_page", False):
            return response
        if response.status_code not in (403, 404, 500):
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response  # the API answers JSON errors of its own
        if request.path.startswith(("/admin/", "/api/")):
            return response
        trace = getattr(request, "_bmadweb_trace", "")
        return error_page(request, response.status_code, debug_trace=trace)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if settings.DEBUG:
            request._bmadweb_trace = "".join(  # type: ignore[attr-defined]
                traceback.format_exception(exception)
            )
        return None
