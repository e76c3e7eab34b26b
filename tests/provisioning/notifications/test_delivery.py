"""Notifications on the wire: a real local receiver, real Redis, RQ's SimpleWorker.

Signed webhooks verify with the shared secret; an Apprise ``json://`` target reaches the
receiver; a receiver answering 500 is retried with RQ's Retry until the delivery is
failed (error on the page), and a retry succeeds once it recovers; no secret reaches a
log line, an audit payload, Redis or a page (docs/security.md#notifications).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
from django.test import Client
from django.urls import reverse

from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord
from provisioning.models import NotificationDelivery, NotificationStatus
from provisioning.notifications import services

pytestmark = pytest.mark.django_db

PASSWORD = "Canary-Passw0rd-7f3e"
PATH_TOKEN = "canary-path-token-91ab"


def _target(owner, project, capture, **options):  # type: ignore[no-untyped-def]
    options.setdefault("name", "ops room")
    options.setdefault("events", ["run_failed"])
    with capture(execute=True):
        return services.notification_target_create(actor=owner, project=project, **options)


def _test_send(owner, target, capture) -> NotificationDelivery:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        return services.notification_test_send(actor=owner, target=target)


def _page(client: Client, project) -> str:  # type: ignore[no-untyped-def]
    response = client.get(reverse("notifications:project-notifications", args=[project.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_signed_webhook_arrives_and_its_signature_verifies_with_the_shared_secret(
    project, owner, receiver, run_all, django_capture_on_commit_callbacks
):
    target, secret = _target(
        owner, project, django_capture_on_commit_callbacks, kind="webhook", url=receiver.url()
    )
    assert secret.startswith("bmw_")
    assert len(secret) > 40
    delivery = _test_send(owner, target, django_capture_on_commit_callbacks)
    assert run_all() == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
    (request,) = receiver.received
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-bmadweb-event"] == "test"
    assert request.headers["x-bmadweb-delivery"] == str(delivery.pk)
    timestamp = request.headers["x-bmadweb-timestamp"]
    signed = timestamp.encode() + b"." + request.body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-bmadweb-signature"], expected)
    wrong = "sha256=" + hmac.new(b"another-secret", signed, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(request.headers["x-bmadweb-signature"], wrong)
    body = json.loads(request.body)
    assert body["event"] == "test"
    assert body["delivery"] == delivery.pk
    assert "Health AI" in body["text"]
    assert secret not in request.body.decode()


def test_apprise_json_target_delivers_to_the_local_receiver(
    project, owner, receiver, run_all, django_capture_on_commit_callbacks
):
    url = f"json://127.0.0.1:{receiver.port}/apprise/{PATH_TOKEN}"
    target, secret = _target(
        owner, project, django_capture_on_commit_callbacks, kind="apprise", url=url
    )
    assert secret == ""
    assert target.url_redacted == "json://127.0.0.1/…"
    delivery = _test_send(owner, target, django_capture_on_commit_callbacks)
    run_all()
    delivery.refresh_from_db()
    assert delivery.status == NotificationStatus.SENT, delivery.last_error
    (request,) = receiver.received
    assert request.path == f"/apprise/{PATH_TOKEN}"
    body = json.loads(request.body)
    assert body["title"] == "bmadweb test notification"
    assert "Health AI" in body["message"]


@pytest.mark.parametrize("kind", ["webhook", "apprise"])
def test_a_failing_receiver_is_retried_then_failed_on_the_page_then_a_retry_succeeds(
    kind, project, owner, receiver, run_all, django_capture_on_commit_callbacks, settings
):
    settings.NOTIFY_MAX_ATTEMPTS = 3
    url = receiver.url() if kind == "webhook" else f"json://127.0.0.1:{receiver.port}/hook"
    target, _ = _target(owner, project, django_capture_on_commit_callbacks, kind=kind, url=url)
    receiver.always = 500
    delivery = _test_send(owner, target, django_capture_on_commit_callbacks)
    assert run_all() == 2  # RQ scheduled two retries (with backoff), then gave up
    delivery.refresh_from_db()
    assert delivery.status == NotificationStatus.FAILED
    assert delivery.attempts == 3
    assert len(receiver.received) == 3
    assert "500" in delivery.last_error
    client = Client()
    client.force_login(owner)
    html = _page(client, project)
    assert "badge-notify-failed" in html
    assert delivery.last_error.split()[0] in html

    receiver.always = None  # the receiver recovers
    retry = reverse("notifications:project-notification-retry", args=[project.slug, delivery.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(retry).status_code == 302
    run_all()
    delivery.refresh_from_db()
    assert delivery.status == NotificationStatus.SENT
    assert delivery.attempts == 4
    assert len(receiver.received) == 4
    assert "badge-notify-sent" in _page(client, project)
    actions = [r.action for r in AuditRecord.objects.order_by("seq")]
    assert "notification.retry" in actions


def test_no_secret_reaches_logs_audit_redis_or_pages(
    project,
    owner,
    receiver,
    run_all,
    redis_conn,
    caplog,
    django_capture_on_commit_callbacks,
):
    caplog.set_level(logging.DEBUG)
    client = Client()
    client.force_login(owner)
    page = reverse("notifications:project-notifications", args=[project.slug])
    apprise_url = f"json://bot:{PASSWORD}@127.0.0.1:{receiver.port}/x/{PATH_TOKEN}"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            page,
            {"name": "chat", "kind": "apprise", "url": apprise_url, "events": ["run_failed"]},
        )
        assert response.status_code == 302
        response = client.post(
            page,
            {"name": "hook", "kind": "webhook", "url": receiver.url(), "enabled": "on"},
        )
        assert response.status_code == 302
    first = client.get(page).content.decode()
    hook = project.notification_targets.get(name="hook")
    secret = hook.get_secret()
    assert secret in first  # shown once, right after it was made
    receiver.always = 500
    for target in project.notification_targets.all():
        _test_send(owner, target, django_capture_on_commit_callbacks)
    run_all()
    assert set(NotificationDelivery.objects.values_list("status", flat=True)) == {"failed"}
    errors = " ".join(NotificationDelivery.objects.values_list("last_error", flat=True))
    later = client.get(page).content.decode()
    audit = json.dumps([audit_payload(r) for r in AuditRecord.objects.all()])
    assert "notification.create" in {r.action for r in AuditRecord.objects.all()}
    redis_dump = b" ".join(
        redis_conn.dump(key) or b""
        for key in redis_conn.keys("*")
        if redis_conn.type(key) != b"none"
    )
    places = {
        "page after": later,
        "audit": audit,
        "logs": caplog.text,
        "errors": errors,
        "redis": redis_dump.decode("latin-1"),
    }
    leaks = [
        f"{canary} in {where}"
        for where, text in places.items()
        for canary in (PASSWORD, PATH_TOKEN, secret, apprise_url)
        if canary in text
    ]
    assert leaks == []
    assert "json://127.0.0.1/…" in later  # the redacted form is what the page shows
    assert PASSWORD not in first
    assert PATH_TOKEN not in first


def test_a_single_try_setting_sends_once_and_marks_failed_without_retries(
    project, owner, receiver, run_all, django_capture_on_commit_callbacks, settings
):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    target, _ = _target(
        owner, project, django_capture_on_commit_callbacks, kind="webhook", url=receiver.url()
    )
    receiver.always = 503
    delivery = _test_send(owner, target, django_capture_on_commit_callbacks)
    assert run_all() == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "the receiver answered HTTP 503"


def test_a_delivery_whose_job_was_never_enqueued_is_sent_by_the_reconciler(
    project, owner, receiver, run_all, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    target, _ = _target(
        owner, project, django_capture_on_commit_callbacks, kind="webhook", url=receiver.url()
    )
    # The commit hook never ran (the queue was down, the process died): a queued row alone.
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.notification_test_send(actor=owner, target=target)
    assert services.notifications_reconcile() == 0  # too young: its hook may still run
    NotificationDelivery.objects.filter(pk=delivery.pk).update(
        created=timezone.now() - timedelta(minutes=5)
    )
    assert services.notifications_reconcile() == 1
    assert services.notifications_reconcile() == 0  # its job is queued now: not twice
    run_all()
    delivery.refresh_from_db()
    assert delivery.status == NotificationStatus.SENT
    assert len(receiver.received) == 1
