"""Pull request events from the three forges move a run's pull request state: signed
deliveries through the Django test client, the ledger, the audit record, forgeries."""

from __future__ import annotations

from typing import Any

import pytest

from bmadweb.models import AuditRecord
from provisioning.models import Run, RunKind, RunStatus, WebhookDelivery
from tests.provisioning.webhooks.webhook_helpers import (
    PROVIDERS,
    body_of,
    deliver,
    hmac_hex,
    ledger_row,
    pull_request_payload,
    signed_headers,
)

pytestmark = pytest.mark.django_db

PR_EVENT = {"github": "pull_request", "gitea": "pull_request", "gitlab": "Merge Request Hook"}


def _pushed_run(project: Any, url: str = "") -> Run:
    run = Run.objects.create(project=project, kind=RunKind.PROVISION, status=RunStatus.PUSHED)
    Run.objects.filter(pk=run.pk).update(branch=f"bmadweb/{project.slug}/{run.pk}", pr_url=url)
    run.refresh_from_db()
    return run


def _send(client, project, secret, provider, action, run, **extra):  # type: ignore[no-untyped-def]
    payload = pull_request_payload(
        provider, project.repo_url, action=action, branch=run.branch, **extra
    )
    body = body_of(payload)
    headers = signed_headers(provider, body, secret, event=PR_EVENT[provider])
    return deliver(client, project, provider, body, headers)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_opened_then_merged_moves_the_run_and_audits_each_change(client, hooked, provider):  # type: ignore[no-untyped-def]
    project, secret = hooked
    run = _pushed_run(project)
    response = _send(client, project, secret, provider, "opened", run)
    assert response.status_code == 202
    assert response.json()["outcome"] == "queued"
    delivery = ledger_row(response)
    assert (delivery.outcome, delivery.run_id) == ("accepted", run.pk)
    assert delivery.ref == f"refs/heads/{run.branch}"
    run.refresh_from_db()
    assert run.pr_state == "open"
    assert run.pr_state_at is not None

    _send(client, project, secret, provider, "merged", run)
    run.refresh_from_db()
    assert run.pr_state == "merged"
    changes = AuditRecord.objects.filter(action="run.pr_state", project=project)
    assert changes.count() == 2
    assert run.status == RunStatus.PUSHED  # the run itself is untouched


@pytest.mark.parametrize("provider", PROVIDERS)
def test_closed_without_merge_is_closed(client, hooked, provider):  # type: ignore[no-untyped-def]
    project, secret = hooked
    run = _pushed_run(project)
    _send(client, project, secret, provider, "closed", run)
    run.refresh_from_db()
    assert run.pr_state == "closed"


def test_actions_that_change_no_state_are_ignored(client, hooked):  # type: ignore[no-untyped-def]
    project, secret = hooked
    run = _pushed_run(project)
    response = _send(client, project, secret, "github", "synchronize", run)
    assert response.status_code == 200
    assert ledger_row(response).outcome == "ignored"
    run.refresh_from_db()
    assert run.pr_state == ""


def test_an_unknown_branch_or_another_request_matches_no_run(client, hooked):  # type: ignore[no-untyped-def]
    project, secret = hooked
    run = _pushed_run(project, url="https://github.example/acme/healthai/pull/1")
    stranger = Run(project=project, branch="feature/x")
    elsewhere = "https://github.example/acme/healthai/pull/2"
    unknown = _send(client, project, secret, "github", "merged", stranger, url=elsewhere)
    assert ledger_row(unknown).outcome == "ignored"
    other = _send(
        client, project, secret, "github", "merged", run, url="https://github.example/x/pull/9"
    )
    assert ledger_row(other).outcome == "ignored"
    run.refresh_from_db()
    assert run.pr_state == ""


def test_a_fork_with_the_same_branch_name_is_ignored(client, hooked):  # type: ignore[no-untyped-def]
    project, secret = hooked
    run = _pushed_run(project)
    response = _send(client, project, secret, "github", "merged", run, head_repo="mallory/fork")
    assert ledger_row(response).outcome == "ignored"
    run.refresh_from_db()
    assert run.pr_state == ""


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forged_pull_request_events_are_refused_and_change_nothing(client, hooked, provider):  # type: ignore[no-untyped-def]
    project, _secret = hooked
    run = _pushed_run(project)
    body = body_of(
        pull_request_payload(provider, project.repo_url, action="merged", branch=run.branch)
    )
    headers = signed_headers(provider, body, "not-the-secret", event=PR_EVENT[provider])
    response = deliver(client, project, provider, body, headers)
    assert response.status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.signature_ok, delivery.body) == ("rejected", False, None)
    run.refresh_from_db()
    assert run.pr_state == ""
    assert not AuditRecord.objects.filter(action="run.pr_state").exists()


def test_a_body_changed_after_signing_is_refused(client, hooked):  # type: ignore[no-untyped-def]
    project, secret = hooked
    run = _pushed_run(project)
    body = body_of(pull_request_payload("github", project.repo_url, "closed", run.branch))
    headers = signed_headers("github", body, secret, event="pull_request")
    tampered = body.replace(b'"merged": false', b'"merged": true')
    assert tampered != body
    headers["X-Hub-Signature-256"] = "sha256=" + hmac_hex(secret, body)
    response = deliver(client, project, "github", tampered, headers)
    assert response.status_code == 401
    run.refresh_from_db()
    assert run.pr_state == ""


def test_an_older_event_does_not_undo_a_newer_state(client, hooked):  # type: ignore[no-untyped-def]
    project, secret = hooked
    run = _pushed_run(project)
    _send(client, project, secret, "gitea", "merged", run)
    run.refresh_from_db()
    late = WebhookDelivery.objects.get()
    # An "opened" event received before the merge, settled only now.
    body = body_of(pull_request_payload("gitea", project.repo_url, "opened", run.branch))
    headers = signed_headers("gitea", body, secret, event="pull_request")
    response = deliver(client, project, "gitea", body, headers, settle=False)
    WebhookDelivery.objects.filter(pk=response.json()["delivery"]).update(
        received=late.received.replace(year=late.received.year - 1)
    )
    from provisioning.webhooks.settle import webhooks_drain

    webhooks_drain(project_id=project.pk)
    run.refresh_from_db()
    assert run.pr_state == "merged"


def test_the_state_shows_on_the_run_the_runs_list_the_dashboard_and_the_campaign(  # type: ignore[no-untyped-def]
    client, hooked, owner
):
    from provisioning.models import Campaign, CampaignItem

    project, secret = hooked
    run = _pushed_run(project, url="https://gitea.example/acme/healthai/pull/1")
    campaign = Campaign.objects.create(name="wave", kind=RunKind.PROVISION, created_by=owner)
    CampaignItem.objects.create(campaign=campaign, project=project, run=run, state="done")
    _send(client, project, secret, "gitea", "merged", run)
    Run.objects.create(project=project, kind=RunKind.ANALYZE, status=RunStatus.SUCCEEDED)
    client.force_login(owner)
    badge = 'data-pr-state="merged"'
    for url in (
        run.get_absolute_url(),
        f"/p/{project.slug}/runs/",
        "/",  # a newer analysis does not hide the last pull request
        campaign.get_absolute_url(),
    ):
        assert badge in client.get(url).content.decode(), url
