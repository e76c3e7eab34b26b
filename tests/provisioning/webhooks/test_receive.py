"""The webhook receiver end to end (provisioning.webhooks.receive and its view): real
database, real Redis, the Django test client (and a live server where the socket
matters). What is accepted, ignored or refused, unknown routes and methods, and the size
cap. Forgeries live in test_forgeries."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import RequestFactory, override_settings

from projects import services as project_services
from provisioning.models import Run, RunKind, RunStatus, RunTrigger, WebhookDelivery
from provisioning.webhooks.views import _read_capped
from tests.provisioning.webhooks.webhook_helpers import (
    COMMIT,
    PROVIDERS,
    body_of,
    deliver,
    hook_url,
    ledger_row,
    push,
    push_payload,
    runs,
    signed_headers,
)
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


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
