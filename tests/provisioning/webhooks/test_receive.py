"""The webhook receiver end to end: real database, real Redis, the Django test client
(and a live server where the socket matters). Forgeries live in test_forgeries."""

from __future__ import annotations

import json
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import connection
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone
from rq import Queue as RqQueue

from bmadweb.audit import audit_payload, audit_verify
from bmadweb.models import AuditRecord
from projects import services as project_services
from provisioning.jobs import reconcile_job
from provisioning.models import (
    Run,
    RunKind,
    RunStatus,
    RunTrigger,
    WebhookDelivery,
    WebhookOutcome,
)
from provisioning.runs import services
from provisioning.webhooks.checks import gitlab_signing_token, repo_key
from provisioning.webhooks.replay import WebhookReplayError, webhook_replay
from provisioning.webhooks.selectors import delivery_list_for
from provisioning.webhooks.settle import webhooks_drain, webhooks_reconcile
from provisioning.webhooks.views import _read_capped
from tests.provisioning.webhooks.webhook_helpers import (
    COMMIT,
    PROVIDERS,
    body_of,
    deliver,
    gitlab_signed_headers,
    gitlab_signing_key,
    hook_url,
    push_payload,
    signed_headers,
)
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


def runs(project) -> int:  # type: ignore[no-untyped-def]
    return Run.objects.filter(project=project).count()


def ledger_row(response) -> WebhookDelivery:  # type: ignore[no-untyped-def]
    """The delivery a response answered, as the drain left it."""
    return WebhookDelivery.objects.get(pk=response.json()["delivery"])


def push(client, project, secret, provider="github", *, delivery=None, settle=True, **payload):  # type: ignore[no-untyped-def]
    body = body_of(push_payload(provider, project.repo_url, **payload))
    headers = signed_headers(provider, body, secret, delivery=delivery)
    return deliver(client, project, provider, body, headers, settle=settle)


# --- Accepted, ignored, refused -----------------------------------------------------------


def test_github_ping_is_answered_and_recorded_without_a_run(client, hooked):
    project, secret = hooked
    body = body_of(
        {"zen": "Keep it simple.", "hook_id": 7, "repository": {"clone_url": project.repo_url}}
    )
    response = deliver(
        client, project, "github", body, signed_headers("github", body, secret, event="ping")
    )
    assert response.status_code == 200
    assert response.json()["detail"] == "pong"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.event, delivery.signature_ok) == ("accepted", "ping", True)
    assert runs(project) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_push_to_default_branch_queues_one_analysis_and_enqueues_it(
    client, hooked, provider, redis_conn, django_capture_on_commit_callbacks
):
    project, secret = hooked
    with django_capture_on_commit_callbacks(execute=True):
        response = push(client, project, secret, provider)
    assert response.status_code == 202
    assert (response.json()["outcome"], response.json()["run"]) == ("queued", None)
    run = Run.objects.get(project=project)
    assert (run.kind, run.trigger, run.status) == (
        RunKind.ANALYZE,
        RunTrigger.WEBHOOK,
        RunStatus.QUEUED,
    )
    assert run.job_id, "the run was enqueued when the delivery committed"
    delivery = ledger_row(response)
    assert (delivery.outcome, delivery.first, delivery.run_id) == ("accepted", True, run.pk)
    assert not delivery.pending


def test_push_to_default_branch_updates_last_push_seen(client, hooked):
    project, secret = hooked
    push(client, project, secret, after="ab" * 20)
    project.refresh_from_db()
    assert project.last_push_sha == "ab" * 20
    assert project.last_push_at is not None


def test_signed_issues_event_is_acknowledged_with_204_and_starts_nothing(client, hooked):
    project, secret = hooked
    body = body_of({"action": "opened", "issue": {"number": 1}})
    response = deliver(
        client, project, "github", body, signed_headers("github", body, secret, event="issues")
    )
    assert response.status_code == 204
    assert WebhookDelivery.objects.get().outcome == "ignored"
    assert runs(project) == 0


def test_gitlab_tag_push_is_ignored(client, hooked):
    project, secret = hooked
    body = body_of(push_payload("gitlab", project.repo_url, ref="refs/tags/v1"))
    response = deliver(
        client, project, "gitlab", body, signed_headers("gitlab", body, secret, event="tag_push")
    )
    assert response.status_code == 204
    assert runs(project) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_payload_naming_another_repository_is_refused_with_403(client, hooked, provider):
    project, secret = hooked
    response = push(client, project, secret, provider)  # the same request, own repository
    assert response.status_code == 202
    Run.objects.all().delete()
    body = body_of(push_payload(provider, "https://github.com/evil/other.git"))
    response = deliver(client, project, provider, body, signed_headers(provider, body, secret))
    assert response.status_code == 403
    assert "repository mismatch" in WebhookDelivery.objects.first().detail
    assert runs(project) == 0


def test_push_naming_no_repository_is_refused(client, hooked):
    project, secret = hooked
    body = body_of({"ref": "refs/heads/main", "after": COMMIT})
    response = deliver(client, project, "github", body, signed_headers("github", body, secret))
    assert response.status_code == 403
    assert runs(project) == 0


def test_push_to_another_branch_is_ignored(client, hooked):
    project, secret = hooked
    response = push(client, project, secret, ref="refs/heads/feature/x")
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert runs(project) == 0


def test_branch_deletion_is_ignored(client, hooked):
    project, secret = hooked
    response = push(client, project, secret, after="0" * 40)
    assert response.json()["outcome"] == "ignored"
    assert runs(project) == 0


def test_malformed_json_with_a_valid_signature_is_refused_with_400(client, hooked):
    project, secret = hooked
    body = b'{"ref": "refs/heads/main", "after": '
    response = deliver(client, project, "github", body, signed_headers("github", body, secret))
    assert response.status_code == 400
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.signature_ok) == ("rejected", True)
    assert runs(project) == 0


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe{}", b'{"ref": 1, "after": 2}'],
    ids=["array", "deep-nesting", "not-utf8", "wrong-types"],
)
def test_signed_bodies_that_are_not_push_payloads_get_400_never_500(client, hooked, body):
    project, secret = hooked
    response = deliver(client, project, "github", body, signed_headers("github", body, secret))
    assert response.status_code == 400
    assert runs(project) == 0


def test_missing_event_header_is_refused_with_400(client, hooked):
    project, secret = hooked
    body = body_of(push_payload("github", project.repo_url))
    headers = signed_headers("github", body, secret)
    del headers["X-GitHub-Event"]
    assert deliver(client, project, "github", body, headers).status_code == 400
    assert runs(project) == 0


def test_form_encoded_github_payload_is_understood(client, hooked):
    project, secret = hooked
    body = urlencode({"payload": json.dumps(push_payload("github", project.repo_url))}).encode()
    headers = signed_headers("github", body, secret)
    response = deliver(
        client, project, "github", body, headers, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 202
    assert runs(project) == 1


@pytest.mark.parametrize(
    "body",
    [
        urlencode({"other": "{}"}).encode(),
        urlencode({"payload": "not json"}).encode(),
        urlencode({f"field{i}": "x" for i in range(50)}).encode(),
        b"payload=%ff%fe",
    ],
    ids=["no-payload-field", "payload-not-json", "too-many-fields", "payload-not-utf8"],
)
def test_hostile_form_encoded_bodies_get_400_never_500(client, hooked, body):
    project, secret = hooked
    headers = signed_headers("github", body, secret)
    response = deliver(
        client, project, "github", body, headers, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert WebhookDelivery.objects.get().outcome == "rejected"
    assert runs(project) == 0


def test_receiver_url_works_without_the_trailing_slash(client, hooked):
    project, secret = hooked
    body = body_of(push_payload("github", project.repo_url))
    url = hook_url(project, "github").rstrip("/")
    response = client.post(
        url,
        data=body,
        content_type="application/json",
        headers=signed_headers("github", body, secret),
    )
    assert response.status_code == 202


def test_project_without_a_manifest_records_an_error_and_does_not_claim_the_delivery(
    client, project, owner
):
    secret = project_services.webhook_secret_regenerate(actor=owner, project=project)
    response = push(client, project, secret, delivery="d-1")
    assert response.status_code == 202
    assert (ledger_row(response).outcome, ledger_row(response).first) == ("error", False)
    project_services.manifest_save(
        actor=owner, project=project, yaml_text=DEMO_MANIFEST, message="m"
    )
    assert push(client, project, secret, delivery="d-1").status_code == 202
    assert runs(project) == 1


# --- Not found, methods ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "head", "put", "delete"])
def test_methods_other_than_post_get_405(client, hooked, method):
    project, _ = hooked
    assert getattr(client, method)(hook_url(project, "github")).status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/hooks/github/00000000-0000-4000-8000-000000000000/",
        "/hooks/bitbucket/{uid}/",
        "/hooks/github/not-a-uuid/",
        "/hooks/github/{slug}/",
    ],
)
def test_unknown_project_or_provider_is_404_and_not_recorded(client, hooked, path):
    project, secret = hooked
    body = body_of(push_payload("github", project.repo_url))
    url = path.format(uid=project.uid, slug=project.slug)
    response = client.post(
        url,
        data=body,
        content_type="application/json",
        headers=signed_headers("github", body, secret),
    )
    assert response.status_code == 404
    assert WebhookDelivery.objects.count() == 0


# --- Size ----------------------------------------------------------------------------------


def test_30_mb_body_is_refused_with_413(client, hooked):
    project, secret = hooked
    body = b" " * (30 * 1024 * 1024)
    response = deliver(client, project, "github", body, signed_headers("github", body, secret))
    assert response.status_code == 413
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.body) == ("rejected", None)
    assert runs(project) == 0


@pytest.mark.django_db(transaction=True)
def test_30_mb_body_is_refused_before_the_server_receives_it(live_server, hooked):
    project, _ = hooked
    target = urlsplit(live_server.url)
    head = (
        f"POST {hook_url(project, 'github')} HTTP/1.1\r\nHost: {target.hostname}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {30 * 1024 * 1024}\r\n"
        "X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=" + "0" * 64 + "\r\n\r\n"
    )
    with socket.create_connection((target.hostname, target.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"{" + b" " * 65536)  # 64 KiB of the 30 MB announced
        status_line = sock.recv(64).split(b"\r\n")[0]
    assert status_line.startswith(b"HTTP/1.1 413 ")


def test_a_body_longer_than_its_content_length_claims_is_cut_at_the_cap():
    request = RequestFactory().post("/hooks/", data=b"x" * 5000, content_type="application/json")
    request.META["CONTENT_LENGTH"] = "10"  # a lying header
    assert _read_capped(request, 4096) is None


@override_settings(WEBHOOK_MAX_BYTES=2048)
def test_body_cap_follows_the_setting(client, hooked):
    project, secret = hooked
    body = body_of(push_payload("github", project.repo_url, padding="x" * 4096))
    assert (
        deliver(client, project, "github", body, signed_headers("github", body, secret)).status_code
        == 413
    )


# --- Duplicates, concurrency, coalescing, busy ---------------------------------------------


def test_same_delivery_twice_starts_one_run_and_records_the_duplicate(client, hooked):
    project, secret = hooked
    first = push(client, project, secret, delivery="delivery-1")
    second = push(client, project, secret, delivery="delivery-1")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["outcome"] == "duplicate"
    assert runs(project) == 1
    original, copy = WebhookDelivery.objects.order_by("id")
    assert (copy.duplicate, copy.first, copy.run_id) == (True, False, original.run_id)


def test_same_delivery_id_in_another_project_is_not_a_duplicate(client, hooked, owner, tmp_path):
    project, secret = hooked
    other_dir = tmp_path / "other.git"
    other_dir.mkdir()
    other = project_services.project_create(
        actor=owner, name="Other", slug="other", repo_url=str(other_dir)
    )
    project_services.manifest_save(actor=owner, project=other, yaml_text=DEMO_MANIFEST, message="m")
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


# --- Rotation --------------------------------------------------------------------------------


def test_previous_secret_is_accepted_until_the_next_rotation(client, hooked, owner):
    project, oldest = hooked
    newer = project_services.webhook_secret_regenerate(actor=owner, project=project)
    assert push(client, project, oldest, ref="refs/heads/dev").status_code == 200
    assert push(client, project, newer, ref="refs/heads/dev").status_code == 200
    project_services.webhook_secret_regenerate(actor=owner, project=project)
    assert push(client, project, newer, ref="refs/heads/dev").status_code == 200
    assert push(client, project, oldest, ref="refs/heads/dev").status_code == 401


# --- GitLab signed webhooks ------------------------------------------------------------------


def test_gitlab_signed_webhook_without_token_is_accepted(client, hooked):
    project, secret = hooked
    body = body_of(push_payload("gitlab", project.repo_url))
    headers = {
        "X-Gitlab-Event": "Push Hook",
        **gitlab_signed_headers(body, gitlab_signing_key(secret)),
    }
    response = deliver(client, project, "gitlab", body, headers)
    assert response.status_code == 202
    assert WebhookDelivery.objects.get().delivery_id == "msg-1"


def test_gitlab_signing_token_has_the_whsec_form_and_keeps_given_tokens():
    token = gitlab_signing_token("plain-secret")
    assert token.startswith("whsec_")
    assert len(token) == 6 + 44
    assert gitlab_signing_token(token) == token


# --- Replay -----------------------------------------------------------------------------------


def test_replay_while_the_run_is_queued_joins_it_instead_of_starting_another(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    result = webhook_replay(delivery=original, actor=owner)
    assert (result.outcome, result.delivery.replay_of_id) == ("accepted", original.pk)
    assert result.run_id == original.run_id
    assert runs(project) == 1


def test_replay_after_the_run_ended_starts_a_new_analysis(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    services.run_cancel(run=original.run, actor=owner)
    result = webhook_replay(delivery=original, actor=owner)
    assert result.status == 202
    assert runs(project) == 2
    assert result.delivery.replayed_by == owner


def test_replay_while_a_provision_is_active_is_busy(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret, ref="refs/heads/main")
    services.run_cancel(run=Run.objects.get(), actor=owner)
    services.run_create(project=project, kind=RunKind.PROVISION, actor=owner, enqueue=False)
    result = webhook_replay(delivery=WebhookDelivery.objects.get(), actor=owner)
    assert result.outcome == "busy"
    assert runs(project) == 2


def test_forged_delivery_cannot_be_replayed(client, hooked, owner):
    project, _ = hooked
    push(client, project, "not-the-secret")
    forged = WebhookDelivery.objects.get()
    assert forged.body is None
    with pytest.raises(WebhookReplayError):
        webhook_replay(delivery=forged, actor=owner)
    assert runs(project) == 0


def test_owner_replays_from_the_ui_and_is_redirected(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    client.force_login(owner)
    url = reverse(
        "deliveries:delivery-replay", kwargs={"slug": project.slug, "delivery_id": original.pk}
    )
    response = client.post(url)
    assert response.status_code == 302
    assert WebhookDelivery.objects.filter(replay_of=original).count() == 1
    assert runs(project) == 1


@pytest.mark.parametrize(("who", "status"), [("outsider", 404), ("viewer", 403)])
def test_only_managers_can_replay(client, hooked, request, who, status):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    client.force_login(request.getfixturevalue(who))
    url = reverse(
        "deliveries:delivery-replay", kwargs={"slug": project.slug, "delivery_id": original.pk}
    )
    assert client.post(url).status_code == status
    assert WebhookDelivery.objects.count() == 1


def test_replay_of_another_projects_delivery_is_404(client, hooked, owner, tmp_path):
    project, secret = hooked
    push(client, project, secret)
    other_dir = tmp_path / "other.git"
    other_dir.mkdir()
    other = project_services.project_create(
        actor=owner, name="Other", slug="other", repo_url=str(other_dir)
    )
    client.force_login(owner)
    url = reverse(
        "deliveries:delivery-replay",
        kwargs={"slug": other.slug, "delivery_id": WebhookDelivery.objects.get().pk},
    )
    assert client.post(url).status_code == 404


def test_replay_needs_post(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret)
    client.force_login(owner)
    url = reverse(
        "deliveries:delivery-replay",
        kwargs={"slug": project.slug, "delivery_id": WebhookDelivery.objects.get().pk},
    )
    assert client.get(url).status_code == 405


def test_admin_action_replays_selected_deliveries(client, hooked, staff):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    services.run_cancel(run=original.run, actor=staff)
    client.force_login(staff)
    response = client.post(
        reverse("admin:provisioning_webhookdelivery_changelist"),
        {"action": "replay_deliveries", "_selected_action": [original.pk]},
    )
    assert response.status_code == 302
    assert WebhookDelivery.objects.filter(replay_of=original).get().outcome == "accepted"
    assert runs(project) == 2


def test_admin_ledger_list_and_detail_render(client, hooked, staff):
    project, secret = hooked
    push(client, project, secret)
    client.force_login(staff)
    assert client.get(reverse("admin:provisioning_webhookdelivery_changelist")).status_code == 200
    pk = WebhookDelivery.objects.get().pk
    assert (
        client.get(reverse("admin:provisioning_webhookdelivery_change", args=[pk])).status_code
        == 200
    )


# --- The request writes one row; the worker settles it ------------------------------------------


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
    client, hooked, owner, redis_conn, caplog
):
    project, secret = hooked
    push(client, project, secret, settle=False, ref="refs/heads/other")
    WebhookDelivery.objects.update(received=timezone.now() - timedelta(minutes=5))
    other_dir = project.repo_url + "-other"
    os.mkdir(other_dir)
    other = project_services.project_create(
        actor=owner, name="Other", slug="other", repo_url=other_dir
    )
    project_services.manifest_save(actor=owner, project=other, yaml_text=DEMO_MANIFEST)
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


# --- Ledger, audit, selectors ------------------------------------------------------------------


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
    client, hooked, owner, tmp_path
):
    project, secret = hooked
    push(client, project, secret, ref="refs/heads/a")
    push(client, project, secret, ref="refs/heads/b")
    other_dir = tmp_path / "other.git"
    other_dir.mkdir()
    other = project_services.project_create(
        actor=owner, name="Other", slug="other", repo_url=str(other_dir)
    )
    assert [d.ref for d in delivery_list_for(project)] == ["refs/heads/b", "refs/heads/a"]
    assert list(delivery_list_for(other)) == []


def test_ledger_keeps_no_secret_headers(client, hooked):
    project, secret = hooked
    push(client, project, secret, "gitlab")
    headers = WebhookDelivery.objects.get().headers
    assert "x-gitlab-token" not in headers
    assert secret not in json.dumps(headers)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://GitHub.com/Acme/HealthAI.git", ("github.com", "acme/healthai")),
        ("https://github.com/acme/healthai/", ("github.com", "acme/healthai")),
        ("git@github.com:acme/healthai.git", ("github.com", "acme/healthai")),
        (
            "ssh://git@gitlab.example.com:2222/group/sub/repo.git",
            ("gitlab.example.com", "group/sub/repo"),
        ),
        ("http://gitea.local:3000/org/repo", ("gitea.local", "org/repo")),
        ("/srv/git/repo.git", ("", "srv/git/repo")),
        ("file:///srv/git/repo.git", ("", "srv/git/repo")),
        ("ext::sh -c evil", None),
        ("", None),
        ("relative/path.git", None),
        ("https://github.com/", None),
    ],
)
def test_repository_addresses_normalise_to_host_and_path(url, key):
    assert repo_key(url) == key
