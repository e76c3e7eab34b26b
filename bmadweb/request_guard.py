"""Refuse input the database cannot store before any view reads it (docs/security.md#s23).

PostgreSQL refuses NUL in text, and no database can store a lone surrogate, so a value
carrying either reaches a query as a crash (a 500) unless every view checks it. This
middleware checks once, for every view: the path, every query parameter (names and
values), every header and cookie, and the form fields of views that read forms. Any of
them carrying NUL or text that is not valid Unicode gets 400.

Forms are checked in ``process_view`` for views that take forms, that is every view but
the CSRF-exempt ones: the webhook receiver reads its raw body under a size cap (and its
own checks refuse what it cannot store), the REST API validates JSON with its schemas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

MESSAGE = "The request carries a NUL character or text that is not valid Unicode."


def storable(text: object) -> bool:
    """True when `text` holds no NUL and encodes as UTF-8 (no lone surrogates)."""
    if not isinstance(text, str):
        return True
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_storable(values: Iterable[object]) -> bool:
    return all(storable(value) for value in values)


def _multi(data: Any) -> Iterable[str]:
    for key in data:
        yield key
        yield from data.getlist(key)


class RefuseUnstorableInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        headers = (
            value
            for key, value in request.META.items()
            if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "QUERY_STRING")
        )
        if not (
            storable(request.path_info)
            and _all_storable(_multi(request.GET))
            and _all_storable(headers)
            and _all_storable(request.COOKIES.values())
        ):
            return _refuse(request)
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], *args: object
    ) -> HttpResponse | None:
        if request.method in ("GET", "HEAD", "OPTIONS") or getattr(view_func, "csrf_exempt", False):
            return None
        if not (_all_storable(_multi(request.POST)) and _all_storable(_files(request))):
            return _refuse(request)
        return None


def _files(request: HttpRequest) -> Iterable[str]:
    for key in request.FILES:
        yield key
        yield from (upload.name or "" for upload in request.FILES.getlist(key))


def _refuse(request: HttpRequest) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": MESSAGE}, status=400)
    return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
