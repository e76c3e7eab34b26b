"""Webhooks (docs/security.md#s11, #s13): a signed push whose ref cannot be a git ref is
recorded and refused with a 4xx (never the 503 a forge retries forever), and requests
that prove nothing are counted per project and source, rate-limited, kept off the
webhook page and audited in aggregate."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord
from provisioning.models import Run, WebhookDelivery, WebhookOutcome, WebhookRefusal
from provisioning.webhooks.settle import webhooks_drain
from tests.provisioning.webhooks.webhook_helpers import (
    body_of,
    deliver,
    event_header,
    hook_url,
    ledger_row,
    push_payload,
    signed_headers,
)

pytestmark = pytest.mark.django_db


def _raw_push(project, ref_json: str) -> bytes:
    """A push body with a ref written as raw JSON (escapes JSON allows, text git refuses)."""
    body = body_of(push_payload("github", project.repo_url, ref="REF"))
    return body.replace(b'"REF"', ref_json.encode())


@pytest.mark.parametrize(
    "ref_json",
    [
        '"refs/heads/ma\\u0000in"',  # NUL: PostgreSQL refuses to store it
        '"refs/heads/\\ud800"',  # a lone surrogate: no database stores it
        '"refs/heads/a\\u0001b"',
        '"refs/heads/has space"',
        '"main"',
    ],
)
def test_signed_push_with_a_malformed_ref_is_recorded_and_refused_with_400(
    client, hooked, ref_json
):
    project, secret = hooked
    body = _raw_push(project, ref_json)
    response = deliver(client, project, "github", body, signed_headers("github", body, secret))
    assert response.status_code == 400
    assert "valid git reference" in response.json()["detail"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.signature_ok, delivery.ref) == ("rejected", True, "")
    assert Run.objects.count() == 0
    assert AuditRecord.objects.filter(action="webhook.rejected").count() == 1


def _forge(client, project, source: str, *, settle: bool = False):
    body = body_of(push_payload("github", project.repo_url))
    headers = {**event_header("github", "push"), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    return client.post(
        hook_url(project, "github"),
        data=body,
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR=source,
    )


def test_refused_requests_are_counted_per_source_and_limited(client, hooked, settings):
    project, _ = hooked
    settings.WEBHOOK_REFUSED_LIMIT = 3
    statuses = [_forge(client, project, "203.0.113.7").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert WebhookDelivery.objects.count() == 3  # past the limit: only counted
    tally = WebhookRefusal.objects.get(source="203.0.113.7")
    assert (tally.refused, tally.dropped, tally.provider) == (5, 2, "github")
    # Another address has its own count.
    assert _forge(client, project, "198.51.100.9").status_code == 401


def test_a_limited_source_is_told_when_to_come_back(client, hooked, settings):
    project, _ = hooked
    settings.WEBHOOK_REFUSED_LIMIT = 1
    _forge(client, project, "203.0.113.8")
    response = _forge(client, project, "203.0.113.8")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 600


def test_the_source_behind_a_trusted_proxy_is_the_forwarded_one(client, hooked, settings):
    project, _ = hooked
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    body = body_of(push_payload("github", project.repo_url))
    client.post(
        hook_url(project, "github"),
        data=body,
        content_type="application/json",
        headers={**event_header("github", "push"), "X-Hub-Signature-256": "sha256=" + "1" * 64},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.44",
    )
    assert WebhookRefusal.objects.get().source == "192.0.2.44"


def test_refusals_are_audited_once_per_source_in_one_batch(client, hooked, monkeypatch):
    from provisioning.webhooks import refusals

    project, _ = hooked
    for _ in range(12):
        _forge(client, project, "203.0.113.7")
    for _ in range(3):
        _forge(client, project, "198.51.100.9")
    calls = []
    real = refusals.audit_record_many
    monkeypatch.setattr(
        refusals, "audit_record_many", lambda entries: calls.append(len(entries)) or real(entries)
    )
    webhooks_drain(project_id=project.pk)
    assert calls == [2]  # one lock of the audit head, one record per source
    records = AuditRecord.objects.filter(action="webhook.rejected").order_by("seq")
    counts = {audit_payload(r)["source"]: audit_payload(r)["refused"] for r in records}
    assert counts == {"203.0.113.7": 12, "198.51.100.9": 3}
    _forge(client, project, "203.0.113.7")
    webhooks_drain(project_id=project.pk)
    latest = AuditRecord.objects.filter(action="webhook.rejected").order_by("-seq").first()
    assert audit_payload(latest)["refused"] == 1  # only what came since


def test_a_flood_of_forgeries_does_not_push_genuine_deliveries_off_the_page(
    client, hooked, owner, settings
):
    project, secret = hooked
    settings.WEBHOOK_REFUSED_LIMIT = 100
    body = body_of(push_payload("github", project.repo_url))
    genuine = deliver(client, project, "github", body, signed_headers("github", body, secret))
    assert genuine.status_code == 202
    for _ in range(60):
        _forge(client, project, "203.0.113.7")
    client.force_login(owner)
    page = client.get(reverse("projects:project-webhook", kwargs={"slug": project.slug}))
    text = page.content.decode()
    # The genuine push is on the page as its own row: settled, its analysis started.
    row = ledger_row(genuine)
    assert (row.outcome, row.ref, row.run_id) == (
        WebhookOutcome.ACCEPTED,
        "refs/heads/main",
        Run.objects.get(project=project).pk,
    )
    assert [d.pk for d in page.context["deliveries"]] == [row.pk]
    assert '<span class="badge badge-delivery-accepted">Accepted</span>' in text
    assert 'data-label="Ref" class="mono small wrap-anywhere">refs/heads/main</td>' in text
    assert "Refused requests" in text
    assert "203.0.113.7" in text
    assert ">60<" in text
