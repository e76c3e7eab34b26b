"""Duplicates, concurrency, coalescing, busy: the same delivery twice (or a hundred copies
at once) starts one run, a burst of pushes joins one queued analysis, and a push during
a provision is busy until a retry starts the analysis."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from projects import services as project_services
from provisioning.models import Run, RunKind, WebhookDelivery
from provisioning.runs import services
from tests.provisioning.webhooks.webhook_helpers import (
    body_of,
    deliver,
    ledger_row,
    push,
    push_payload,
    runs,
    signed_headers,
)
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


def test_same_delivery_twice_starts_one_run_and_records_the_duplicate(client, hooked):
    project, secret = hooked
    first = push(client, project, secret, delivery="delivery-1")
    second = push(client, project, secret, delivery="delivery-1")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["outcome"] == "duplicate"
    assert runs(project) == 1
    original, copy = WebhookDelivery.objects.order_by("id")
    assert (copy.duplicate, copy.first, copy.run_id) == (True, False, original.run_id)


def test_same_delivery_id_in_another_project_is_not_a_duplicate(
    client, hooked, owner, make_project
):
    project, secret = hooked
    other = make_project(manifest=DEMO_MANIFEST)
    other_secret = project_services.webhook_secret_regenerate(actor=owner, project=other)
    assert push(client, project, secret, delivery="same-id").status_code == 202
    assert push(client, other, other_secret, delivery="same-id").status_code == 202
    assert Run.objects.count() == 2


def test_delivery_without_an_id_header_is_deduplicated_by_its_body(client, hooked):
    project, secret = hooked
    body = body_of(push_payload("github", project.repo_url))
    headers = signed_headers("github", body, secret)
    del headers["X-GitHub-Delivery"]
    deliver(client, project, "github", body, headers)
    response = deliver(client, project, "github", body, headers)
    assert response.json()["outcome"] == "duplicate"
    assert WebhookDelivery.objects.filter(first=True).get().delivery_id.startswith("body-sha256:")


def _parallel_senders(wanted: int) -> int:
    """As many simultaneous senders as the database can give connections to (PostgreSQL
    stops at max_connections, shared with this test's own and the suite's connections)."""
    if connection.vendor != "postgresql":
        return wanted
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        limit = int(cursor.fetchone()[0])
    return max(10, min(wanted, limit - 30))


@pytest.mark.django_db(transaction=True)
def test_hundred_parallel_copies_of_one_delivery_start_exactly_one_run(hooked, redis_conn):
    project, secret = hooked
    body = body_of(push_payload("github", project.repo_url))
    headers = signed_headers("github", body, secret, delivery="parallel-1")
    senders = _parallel_senders(100)
    start = threading.Barrier(senders)

    def send(index: int) -> int:
        try:
            if index < senders:  # the first wave leaves together; later copies follow
                start.wait(timeout=30)
            return deliver(Client(), project, "github", body, headers).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=senders) as pool:
        codes = list(pool.map(send, range(100)))
    assert runs(project) == 1
    assert WebhookDelivery.objects.filter(first=True).count() == 1
    assert WebhookDelivery.objects.filter(duplicate=True).count() == 99
    assert sorted(codes) == [200] * 99 + [202]


def test_burst_of_three_pushes_coalesces_into_one_queued_run(client, hooked):
    project, secret = hooked
    rows = [ledger_row(push(client, project, secret, after=f"{i:x}" * 40)) for i in range(1, 4)]
    assert runs(project) == 1
    assert {row.run_id for row in rows} == {Run.objects.get().pk}
    assert "joined queued" in rows[2].detail
    project.refresh_from_db()
    assert project.last_push_sha == "3" * 40


def test_push_while_a_provision_is_active_is_busy_and_a_retry_later_starts_the_analysis(
    client, hooked, owner
):
    project, secret = hooked
    provision = services.run_create(
        project=project, kind=RunKind.PROVISION, actor=owner, enqueue=False
    )
    response = push(client, project, secret, delivery="busy-1")
    assert (response.status_code, ledger_row(response).outcome) == (202, "busy")
    assert runs(project) == 1
    services.run_cancel(run=provision, actor=owner)
    retry = push(client, project, secret, delivery="busy-1")
    assert ledger_row(retry).outcome == "accepted"
    assert Run.objects.filter(kind=RunKind.ANALYZE).count() == 1
