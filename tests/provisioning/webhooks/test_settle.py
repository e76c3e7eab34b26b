"""The request writes one ledger row; the worker settles it (provisioning.webhooks.settle):
the drain job in a real worker starts the analysis and audits, a duplicate points at its
original's run, with the queue down the reconciler settles, concurrent drains settle
and audit each delivery once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from rq import Queue as RqQueue

from bmadweb.audit import audit_payload, audit_verify
from bmadweb.models import AuditRecord
from projects import services as project_services
from provisioning.jobs import reconcile_job
from provisioning.models import Run, RunKind, WebhookDelivery, WebhookOutcome
from provisioning.runs import services
from provisioning.webhooks.settle import webhooks_drain, webhooks_reconcile
from tests.provisioning.webhooks.webhook_helpers import push, runs
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


DELIVERY_ACTIONS = [f"webhook.{outcome}" for outcome in WebhookOutcome.values]


def _queued_jobs(redis_conn) -> list[str]:  # type: ignore[no-untyped-def]
    return [job.func_name for job in RqQueue("default", connection=redis_conn).get_jobs()]


@pytest.mark.django_db(transaction=True)  # as in production: no transaction around the request
def test_the_request_writes_only_its_ledger_row(client, hooked, django_assert_num_queries):
    project, secret = hooked
    with django_assert_num_queries(2):  # the project, then one INSERT: no transaction, no audit
        response = push(client, project, secret, settle=False)
    assert (response.status_code, response.json()["outcome"]) == (202, "queued")
    row = WebhookDelivery.objects.get()
    assert (row.outcome, row.pending, row.first, row.run_id) == ("queued", True, True, None)
    assert runs(project) == 0
    assert not AuditRecord.objects.filter(action__in=DELIVERY_ACTIONS).exists()


@pytest.mark.django_db(transaction=True)  # the analysis is enqueued when the drain commits
def test_the_drain_job_in_a_real_worker_starts_the_analysis_and_audits(
    client, hooked, redis_conn, run_worker
):
    project, secret = hooked
    responses = [push(client, project, secret, settle=False, after=c * 40) for c in "abc"]
    assert [r.status_code for r in responses] == [202, 202, 202]
    # One drain job for the burst: the wake key stops the second and third enqueue.
    assert _queued_jobs(redis_conn) == ["provisioning.jobs.webhook_drain_job"]
    run_worker()
    rows = list(WebhookDelivery.objects.order_by("id"))
    run = Run.objects.get(project=project)
    assert [(r.outcome, r.pending, r.run_id) for r in rows] == [("accepted", False, run.pk)] * 3
    # Settled in one batch: the first push started the analysis, the others joined it.
    assert [r.detail.split(" as ")[0] for r in rows] == [
        "analysis queued",
        "analysis joined queued",
        "analysis joined queued",
    ]
    assert run.job_id, "the analysis was enqueued when the drain committed"
    actions = AuditRecord.objects.filter(action__in=DELIVERY_ACTIONS).values_list(
        "action", flat=True
    )
    assert list(actions) == ["webhook.accepted"] * 3
    project.refresh_from_db()
    assert project.last_push_sha == "c" * 40
    # The job deleted its wake key: the next delivery enqueues a new drain.
    push(client, project, secret, settle=False, ref="refs/heads/other")
    assert _queued_jobs(redis_conn) == ["provisioning.jobs.webhook_drain_job"]


def test_a_duplicate_settled_with_its_original_points_at_the_same_run(client, hooked):
    project, secret = hooked
    push(client, project, secret, settle=False, delivery="twice")
    push(client, project, secret, settle=False, delivery="twice")
    assert webhooks_drain(project_id=project.pk) == 2
    original, copy = WebhookDelivery.objects.order_by("id")
    assert (original.outcome, copy.outcome) == ("accepted", "duplicate")
    assert copy.run_id == original.run_id == Run.objects.get().pk
    record = AuditRecord.objects.get(action="webhook.duplicate")
    assert audit_payload(record)["run"] == original.run_id


def test_with_the_queue_down_deliveries_wait_and_the_reconciler_settles_them(
    client, hooked, redis_conn, caplog
):
    project, secret = hooked
    with override_settings(RQ_QUEUES={"default": {"URL": "redis://127.0.0.1:1/0"}}):
        response = push(client, project, secret, settle=False)
    assert response.status_code == 202  # stored: the forge must not retry
    assert "queue unavailable" in caplog.text
    assert WebhookDelivery.objects.get().pending
    assert webhooks_reconcile() == 0, "too recent: its drain job may still come"
    assert webhooks_reconcile(older_than=timedelta(0)) == 1
    row = WebhookDelivery.objects.get()
    assert (row.pending, row.outcome) == (False, "accepted")
    assert runs(project) == 1


def test_a_failing_drain_is_logged_and_does_not_stop_run_reconciliation(
    client, hooked, owner, make_project, redis_conn, caplog
):
    project, secret = hooked
    push(client, project, secret, settle=False, ref="refs/heads/other")
    WebhookDelivery.objects.update(received=timezone.now() - timedelta(minutes=5))
    other = make_project(manifest=DEMO_MANIFEST)
    lost = services.run_create(project=other, kind=RunKind.ANALYZE, actor=owner, enqueue=False)
    Run.objects.filter(pk=lost.pk).update(job_id="")  # its job never reached Redis
    with override_settings(AUDIT_KEYS=["broken"]):  # every audit write now fails
        assert reconcile_job() == [lost.pk]
    assert "could not be settled" in caplog.text
    assert WebhookDelivery.objects.get().pending, "left for the next round"
    assert webhooks_reconcile() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_settle_and_audit_each_delivery_once(hooked):
    project, secret = hooked
    client = Client()
    for i in range(30):
        push(client, project, secret, settle=False, ref=f"refs/heads/b{i}")
    start = threading.Barrier(4)

    def drain(_: int) -> int:
        try:
            start.wait(timeout=30)
            return webhooks_drain(project_id=project.pk, batch=7)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        settled = sum(pool.map(drain, range(4)))
    assert settled == 30
    assert not WebhookDelivery.objects.filter(pending=True).exists()
    assert AuditRecord.objects.filter(action="webhook.ignored").count() == 30
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_the_drain_job_of_a_deleted_project_finds_nothing_to_do(
    client, hooked, owner, redis_conn, run_worker
):
    project, secret = hooked
    push(client, project, secret, settle=False)
    project_services.project_delete(actor=owner, project=project)
    assert not WebhookDelivery.objects.exists()  # the ledger went with the project
    run_worker()
    assert RqQueue("default", connection=redis_conn).failed_job_registry.count == 0
    assert not Run.objects.exists()
