"""The audit log as JSON (/audit) and the chain check (/audit/verify).

/audit: signed-in users only (401 otherwise); superusers read every record, others the
records of projects they own (MANAGE) and their own account-level records — see
bmadweb.selectors.audit_records_for_user. Newest first, `?page=` and `?page_size=`
(at most 200), `?project=<slug>` (404 without view permission, 403 without MANAGE).
/audit/verify: superusers only; 200 when the chain is intact, 409 naming the first bad
(or damaged) record otherwise; `?since=checkpoint` checks from the last checkpoint on and
fails when it is stale.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from bmadweb.selectors import (
    AuditPage,
    audit_chain_verify,
    audit_chain_verify_since_checkpoint,
    audit_page_for_user,
)
from projects.permissions import get_project_for_user
from projects.roles import Perm

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 1_000_000


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _int_param(request: HttpRequest, name: str, default: int, maximum: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= maximum:
        raise ValueError(f"{name} must be a whole number from 1 to {maximum}")
    return int(raw)


def _page_link(request: HttpRequest, page: int) -> str:
    query = request.GET.copy()
    query["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _page_body(request: HttpRequest, page: AuditPage) -> dict[str, Any]:
    return {
        "count": page.count,
        "page": page.page,
        "page_size": page.page_size,
        "next": _page_link(request, page.page + 1) if page.has_next else None,
        "previous": _page_link(request, page.page - 1) if page.page > 1 else None,
        "results": [entry.as_json() for entry in page.entries],
    }


@never_cache
@require_safe
def audit_list(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return _error("Sign in to read the audit log.", 401)
    try:
        page = _int_param(request, "page", 1, MAX_PAGE)
        page_size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    except ValueError as exc:
        return _error(str(exc), 400)
    slug = request.GET.get("project")
    try:
        project = get_project_for_user(request.user, slug, Perm.MANAGE) if slug else None
    except Http404:
        return _error("No such project.", 404)
    except PermissionDenied:
        return _error("You need the manage project permission to read its audit log.", 403)
    result = audit_page_for_user(request.user, project=project, page=page, page_size=page_size)
    return JsonResponse(_page_body(request, result))


@never_cache
@require_safe
def audit_verify_view(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return _error("Sign in to verify the audit log.", 401)
    if not request.user.is_superuser:
        return _error("Only platform owners may verify the audit log.", 403)
    if request.GET.get("since") == "checkpoint":
        max_age = timedelta(seconds=2 * settings.AUDIT_CHECKPOINT_SECONDS + 300)
        result = audit_chain_verify_since_checkpoint(max_age=max_age)
    else:
        result = audit_chain_verify()
    body = {
        "ok": result.ok,
        "checked": result.checked,
        "first_bad_seq": result.first_bad_seq,
        "reason": result.reason,
    }
    return JsonResponse(body, status=200 if result.ok else 409)
