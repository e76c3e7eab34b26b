"""Checks on a delivery (provisioning.webhooks.checks): the previous secret is accepted
until the next rotation, GitLab's signed webhooks and signing token, and repository
addresses normalised for the payload's repository match."""

from __future__ import annotations

import pytest

from projects import services as project_services
from provisioning.models import WebhookDelivery
from provisioning.webhooks.checks import gitlab_signing_token, repo_key
from tests.provisioning.webhooks.webhook_helpers import (
    body_of,
    deliver,
    gitlab_signed_headers,
    gitlab_signing_key,
    push,
    push_payload,
)

pytestmark = pytest.mark.django_db


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


# --- Repository addresses -------------------------------------------------------------------------


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
