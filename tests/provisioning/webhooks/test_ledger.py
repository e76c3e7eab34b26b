"""The delivery ledger: every outcome audited without body or secret, a project's
deliveries newest first (provisioning.webhooks.selectors), no secret header kept."""

from __future__ import annotations

import json

import pytest

from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord
from provisioning.models import WebhookDelivery, WebhookOutcome
from provisioning.webhooks.selectors import delivery_list_for
from tests.provisioning.webhooks.webhook_helpers import push

pytestmark = pytest.mark.django_db


def test_every_outcome_is_audited_without_body_or_secret(client, hooked):
    project, secret = hooked
    push(client, project, secret)
    push(client, project, "forged-secret")
    records = AuditRecord.objects.filter(
        action__in=[f"webhook.{o}" for o in WebhookOutcome.values]
    ).order_by("seq")
    assert [r.action for r in records] == ["webhook.accepted", "webhook.rejected"]
    for record in records:
        text = json.dumps(audit_payload(record))
        assert secret not in text
        assert "acme/healthai" not in text  # nothing from the body


def test_deliveries_for_lists_only_that_projects_deliveries_newest_first(
    client, hooked, make_project
):
    project, secret = hooked
    push(client, project, secret, ref="refs/heads/a")
    push(client, project, secret, ref="refs/heads/b")
    other = make_project()
    assert [d.ref for d in delivery_list_for(project)] == ["refs/heads/b", "refs/heads/a"]
    assert list(delivery_list_for(other)) == []


def test_ledger_keeps_no_secret_headers(client, hooked):
    project, secret = hooked
    push(client, project, secret, "gitlab")
    headers = WebhookDelivery.objects.get().headers
    assert "x-gitlab-token" not in headers
    assert secret not in json.dumps(headers)
