"""Webhook endpoints: the receiver forges call, and the replay button.

The receiver is CSRF-exempt (the forge cannot hold a token; the signature is the
credential) and the only exempt view. It reads at most BMADWEB_WEBHOOK_MAX_BYTES + 1
bytes of body, and none at all when Content-Length already says too much.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bmadweb.proxies import client_address
from projects.permissions import get_project_for_user, require_post_after_lookup
from projects.roles import Perm
from provisioning.models import WebhookOutcome
from provisioning.webhooks.receive import WebhookResult, webhook_receive
from provisioning.webhooks.replay import WebhookReplayError, webhook_replay
from provisioning.webhooks.selectors import delivery_get

logger = logging.getLogger(__name__)


def _read_capped(request: HttpRequest, cap: int) -> bytes | None:
    """The raw body, or None when it is larger than `cap` (then mostly left unread)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > cap:
        return None
    data = request.read(cap + 1)
    return None if len(data) > cap else data


def _answer(result: WebhookResult) -> HttpResponse:
    if result.status == 204:
        return HttpResponse(status=204)
    body: dict[str, object] = {"outcome": result.outcome, "detail": result.detail}
    if result.delivery is not None and result.delivery.signature_ok:
        body["delivery"] = result.delivery.pk
        body["run"] = result.run_id
    response = JsonResponse(body, status=result.status)
    if result.retry_after is not None:
        response["Retry-After"] = str(result.retry_after)
    return response


@csrf_exempt
@require_POST
def webhook_receive_view(
    request: HttpRequest, provider: str, project_uid: uuid.UUID
) -> HttpResponse:
    body = _read_capped(request, settings.WEBHOOK_MAX_BYTES)
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        result = webhook_receive(
            provider=provider,
            project_uid=project_uid,
            headers=headers,
            body=body,
            source=client_address(request),
        )
    except Exception:  # even the error could not be recorded (database down): never a 500
        logger.exception("webhook delivery could not be recorded")
        return JsonResponse(
            {"outcome": WebhookOutcome.ERROR, "detail": "temporarily unavailable"}, status=503
        )
    return _answer(result)


@login_required
@require_post_after_lookup
def delivery_replay(request: HttpRequest, slug: str, delivery_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Perm.MANAGE)
    delivery = delivery_get(project=project, delivery_pk=delivery_id)
    if delivery is None:
        raise Http404("No such delivery.")
    try:
        result = webhook_replay(delivery=delivery, actor=request.user)
    except WebhookReplayError as exc:
        messages.error(request, str(exc))
    else:
        level = messages.SUCCESS if result.outcome == WebhookOutcome.ACCEPTED else messages.INFO
        messages.add_message(
            request, level, f"Delivery #{delivery.pk} replayed: {result.outcome} ({result.detail})."
        )
    return redirect("projects:project-webhook", slug=project.slug)
