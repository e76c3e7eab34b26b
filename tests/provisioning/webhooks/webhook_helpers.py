"""Build webhook requests the way GitHub, GitLab and Gitea/Forgejo send them.

Signatures are computed here with the standard library, independently of bmadweb's own
code, so the tests check the receiver against the providers' documented formats.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from django.test import Client
from django.urls import reverse

from projects.models import Project
from provisioning.models import Run, WebhookDelivery
from provisioning.webhooks.settle import webhooks_drain

PROVIDERS = ("github", "gitlab", "gitea")
COMMIT = "5f3a9c1e2b4d6f8091a2b3c4d5e6f708192a3b4c"


def hook_url(project: Project, provider: str) -> str:
    return reverse("webhooks:receive", kwargs={"provider": provider, "project_uid": project.uid})


def hmac_hex(secret: str | bytes, body: bytes, algo: Any = hashlib.sha256) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, algo).hexdigest()


def push_payload(
    provider: str,
    repo_url: str,
    *,
    ref: str = "refs/heads/main",
    after: str = COMMIT,
    **extra: Any,
) -> dict[str, Any]:
    if provider == "gitlab":
        return {
            "object_kind": "push",
            "ref": ref,
            "before": "0" * 40,
            "after": after,
            "checkout_sha": after,
            "project": {"path_with_namespace": "acme/healthai", "git_http_url": repo_url},
            "repository": {"name": "healthai", "git_http_url": repo_url},
            **extra,
        }
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": after,
        "repository": {"full_name": "acme/healthai", "clone_url": repo_url},
        **extra,
    }


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def event_header(provider: str, event: str) -> dict[str, str]:
    if provider == "github":
        return {"X-GitHub-Event": event}
    if provider == "gitea":
        return {"X-Gitea-Event": event}
    names = {"push": "Push Hook", "issues": "Issue Hook", "tag_push": "Tag Push Hook"}
    return {"X-Gitlab-Event": names.get(event, event)}


def delivery_header(provider: str, delivery: str) -> dict[str, str]:
    name = {"github": "X-GitHub-Delivery", "gitea": "X-Gitea-Delivery"}.get(
        provider, "Idempotency-Key"
    )
    return {name: delivery}


def signature_header(provider: str, body: bytes, secret: str) -> dict[str, str]:
    if provider == "github":
        return {"X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body)}
    if provider == "gitea":
        return {"X-Gitea-Signature": hmac_hex(secret, body)}
    return {"X-Gitlab-Token": secret}


def gitlab_signing_key(secret: str) -> bytes:
    """GitLab's signing token for a bmadweb secret: whsec_ + base64(sha256(secret))."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[6:])
    return hashlib.sha256(secret.encode()).digest()


def gitlab_signed_headers(
    body: bytes, key: bytes, *, msg_id: str = "msg-1", timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def signed_headers(
    provider: str, body: bytes, secret: str, *, event: str = "push", delivery: str | None = None
) -> dict[str, str]:
    return {
        **event_header(provider, event),
        **delivery_header(provider, delivery or str(uuid.uuid4())),
        **signature_header(provider, body, secret),
    }


def deliver(
    client: Client,
    project: Project,
    provider: str,
    body: bytes,
    headers: dict[str, str],
    *,
    content_type: str = "application/json",
    settle: bool = True,
) -> Any:
    """POST like the forge; then, with `settle`, do in this process what the drain job does
    in the worker (audit records, the analysis), so tests can look at the outcome."""
    response = client.post(
        hook_url(project, provider), data=body, content_type=content_type, headers=headers
    )
    if settle:
        webhooks_drain(project_id=project.pk)
    return response


def runs(project) -> int:  # type: ignore[no-untyped-def]
    return Run.objects.filter(project=project).count()


def ledger_row(response) -> WebhookDelivery:  # type: ignore[no-untyped-def]
    """The delivery a response answered, as the drain left it."""
    return WebhookDelivery.objects.get(pk=response.json()["delivery"])


def push(client, project, secret, provider="github", *, delivery=None, settle=True, **payload):  # type: ignore[no-untyped-def]
    body = body_of(push_payload(provider, project.repo_url, **payload))
    headers = signed_headers(provider, body, secret, delivery=delivery)
    return deliver(client, project, provider, body, headers, settle=settle)


def pull_request_payload(
    provider: str,
    repo_url: str,
    action: str,
    branch: str,
    *,
    url: str = "",
    head_repo: str = "acme/healthai",
) -> dict[str, Any]:
    """A pull request event as each forge sends it. `action` is said the GitHub way,
    plus "merged" for a close that merged."""
    merged = action == "merged"
    if provider == "gitlab":
        gitlab_action = {"opened": "open", "closed": "close", "merged": "merge"}.get(
            action, "update"
        )
        return {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "project": {"path_with_namespace": "acme/healthai", "git_http_url": repo_url},
            "repository": {"name": "healthai", "url": repo_url},
            "object_attributes": {
                "iid": 1,
                "action": gitlab_action,
                "state": {"open": "opened", "merge": "merged", "close": "closed"}.get(
                    gitlab_action, "opened"
                ),
                "source_branch": branch,
                "target_branch": "main",
                "source_project_id": 7 if head_repo == "acme/healthai" else 8,
                "target_project_id": 7,
                "url": url or "https://gitlab.example/acme/healthai/-/merge_requests/1",
            },
        }
    repo = {"full_name": "acme/healthai", "clone_url": repo_url}
    return {
        "action": "closed" if merged else action,
        "number": 1,
        "pull_request": {
            "number": 1,
            "html_url": url or f"https://{provider}.example/acme/healthai/pull/1",
            "merged": merged,
            "state": "open" if action in ("opened", "reopened") else "closed",
            "head": {"ref": branch, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "repo": {"full_name": "acme/healthai"}},
        },
        "repository": repo,
    }
