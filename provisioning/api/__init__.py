"""The REST API (django-ninja), mounted at /api/v1/ (docs/architecture.md#api).

OpenAPI document at /api/v1/openapi.json, interactive docs at /api/v1/docs. Every
operation needs a personal token in `Authorization: Bearer …`; every error is JSON
(`{"detail": …}`), and an unexpected failure is a generic 500 whose details only reach
the server log.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from provisioning.api import projects, runs
from provisioning.api.auth import RateLimited, ScopeMissing

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="bmadweb API",
    version="1",
    description=(
        "Projects, manifests, runs, gap reports and BMAD skills of bmadweb. Authenticate "
        "with a personal API token (Account → API tokens) sent as "
        "`Authorization: Bearer <token>`. Scopes: read (GET), write (manifests), run "
        "(start/approve/cancel runs). Each token may make a limited number of requests "
        "per minute; over it the API answers 429 with Retry-After."
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
)
api.add_router("", projects.router)
api.add_router("", runs.router)


def _error(request: HttpRequest, status: int, detail: str, **extra: Any) -> HttpResponse:
    return api.create_response(request, {"detail": detail, **extra}, status=status)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(
        request, 401, "A valid API token is required: send 'Authorization: Bearer <token>'."
    )
    response["WWW-Authenticate"] = 'Bearer realm="bmadweb"'
    return response


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = _error(request, 429, str(exc))
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(ScopeMissing)
def _scope_missing(request: HttpRequest, exc: ScopeMissing) -> HttpResponse:
    return _error(request, 403, str(exc))


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or "You do not have permission to do this.")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, str(exc) or "Not found.")


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _error(request, 422, "The request does not match the API schema.", errors=exc.errors)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, exc.message)


@api.exception_handler(projects.ManifestTooLarge)
def _too_large(request: HttpRequest, exc: projects.ManifestTooLarge) -> HttpResponse:
    return _error(request, 413, str(exc))


@api.exception_handler(projects.ManifestRejected)
def _manifest_rejected(request: HttpRequest, exc: projects.ManifestRejected) -> HttpResponse:
    return _error(request, 422, str(exc), errors=exc.errors)


@api.exception_handler(projects.ManifestConflict)
def _manifest_conflict(request: HttpRequest, exc: projects.ManifestConflict) -> HttpResponse:
    return _error(request, 409, str(exc))


@api.exception_handler(runs.RunConflict)
def _run_conflict(request: HttpRequest, exc: runs.RunConflict) -> HttpResponse:
    return _error(request, 409, str(exc), active_run_id=exc.active_run_id)


@api.exception_handler(runs.RunRefused)
def _run_refused(request: HttpRequest, exc: runs.RunRefused) -> HttpResponse:
    return _error(request, 422, str(exc))


@api.exception_handler(RequestDataTooBig)
def _body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, "The request body is too large.")


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    return _error(request, 400, "The request was refused as malformed.")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Details go to the server log only: a client never sees a traceback or a message
    # that might carry internal state.
    logger.exception("unexpected API error on %s %s", request.method, request.path)
    return _error(request, 500, "Internal error. It has been logged; please try again later.")
