"""docs/security.md#s11: forged deliveries are refused, recorded and start nothing.

Each forgery is a push to the default branch that would start an analysis if it were
believed; the control test at the top shows the same request, honestly signed, does.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

import pytest

from projects import services as project_services
from provisioning.models import Run, WebhookDelivery
from tests.provisioning.webhooks.webhook_helpers import (
    PROVIDERS,
    body_of,
    deliver,
    delivery_header,
    event_header,
    gitlab_signed_headers,
    gitlab_signing_key,
    hmac_hex,
    push_payload,
    signature_header,
)
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db

OTHER_SECRET = "another-projects-secret-0123456789abcdef"


# A forgery: (body, secret) -> (body actually sent, signature headers).
Forgery = Callable[[bytes, str], tuple[bytes, dict[str, str]]]


def _reserialised(body: bytes) -> bytes:
    return json.dumps(json.loads(body), indent=2, sort_keys=True).encode()


def _changed_byte(body: bytes) -> bytes:
    index = body.index(b"refs/heads/main") + len("refs/heads/mai")
    return body[:index] + b"N" + body[index + 1 :]


GITHUB: dict[str, Forgery] = {
    "missing header": lambda b, s: (b, {}),
    "empty header": lambda b, s: (b, {"X-Hub-Signature-256": ""}),
    "sha1 prefix": lambda b, s: (
        b,
        {"X-Hub-Signature-256": "sha1=" + hmac_hex(s, b, hashlib.sha1)},
    ),
    "legacy sha1 header only": lambda b, s: (
        b,
        {"X-Hub-Signature": "sha1=" + hmac_hex(s, b, hashlib.sha1)},
    ),
    "wrong secret": lambda b, s: (b, {"X-Hub-Signature-256": "sha256=" + hmac_hex("wrong", b)}),
    "other project's secret": lambda b, s: (
        b,
        {"X-Hub-Signature-256": "sha256=" + hmac_hex(OTHER_SECRET, b)},
    ),
    "empty secret": lambda b, s: (b, {"X-Hub-Signature-256": "sha256=" + hmac_hex("", b)}),
    "one byte changed": lambda b, s: (
        _changed_byte(b),
        {"X-Hub-Signature-256": "sha256=" + hmac_hex(s, b)},
    ),
    "re-serialised JSON": lambda b, s: (
        b,
        {"X-Hub-Signature-256": "sha256=" + hmac_hex(s, _reserialised(b))},
    ),
    "truncated": lambda b, s: (b, {"X-Hub-Signature-256": "sha256=" + hmac_hex(s, b)[:63]}),
    "uppercase hex": lambda b, s: (b, {"X-Hub-Signature-256": "sha256=" + hmac_hex(s, b).upper()}),
    "surrounding whitespace": lambda b, s: (
        b,
        {"X-Hub-Signature-256": " sha256=" + hmac_hex(s, b) + " "},
    ),
    "header duplicated": lambda b, s: (
        b,
        {"X-Hub-Signature-256": ",".join(["sha256=" + hmac_hex(s, b)] * 2)},
    ),
    "empty body": lambda b, s: (b"", {"X-Hub-Signature-256": "sha256=" + hmac_hex(s, b)}),
    "uppercase algorithm": lambda b, s: (b, {"X-Hub-Signature-256": "SHA256=" + hmac_hex(s, b)}),
    "prefix only": lambda b, s: (b, {"X-Hub-Signature-256": "sha256="}),
    "prefix twice": lambda b, s: (b, {"X-Hub-Signature-256": "sha256=sha256=" + hmac_hex(s, b)}),
    "gitea header instead": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex(s, b)}),
    "gitlab token instead": lambda b, s: (b, {"X-Gitlab-Token": s}),
    "trailing newline in body": lambda b, s: (
        b + b"\n",
        {"X-Hub-Signature-256": "sha256=" + hmac_hex(s, b)},
    ),
}

GITEA: dict[str, Forgery] = {
    "missing header": lambda b, s: (b, {}),
    "empty header": lambda b, s: (b, {"X-Gitea-Signature": ""}),
    "sha256= prefix": lambda b, s: (b, {"X-Gitea-Signature": "sha256=" + hmac_hex(s, b)}),
    "sha1 digest": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex(s, b, hashlib.sha1)}),
    "wrong secret": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex("wrong", b)}),
    "other project's secret": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex(OTHER_SECRET, b)}),
    "empty secret": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex("", b)}),
    "one byte changed": lambda b, s: (_changed_byte(b), {"X-Gitea-Signature": hmac_hex(s, b)}),
    "re-serialised JSON": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex(s, _reserialised(b))}),
    "truncated": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex(s, b)[:-1]}),
    "uppercase hex": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex(s, b).upper()}),
    "surrounding whitespace": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex(s, b) + " "}),
    "header duplicated": lambda b, s: (
        b,
        {"X-Gitea-Signature": hmac_hex(s, b) + "," + hmac_hex(s, b)},
    ),
    "empty body": lambda b, s: (b"", {"X-Gitea-Signature": hmac_hex(s, b)}),
    "github header instead": lambda b, s: (b, {"X-Hub-Signature-256": "sha256=" + hmac_hex(s, b)}),
    "valid forgejo, forged gitea": lambda b, s: (
        b,
        {"X-Forgejo-Signature": hmac_hex(s, b), "X-Gitea-Signature": hmac_hex("wrong", b)},
    ),
    "forged forgejo, valid gitea": lambda b, s: (
        b,
        {"X-Forgejo-Signature": hmac_hex("wrong", b), "X-Gitea-Signature": hmac_hex(s, b)},
    ),
    "gitlab token instead": lambda b, s: (b, {"X-Gitlab-Token": s}),
}


def _signed(body: bytes, secret: str, **kwargs: object) -> dict[str, str]:
    return gitlab_signed_headers(body, gitlab_signing_key(secret), **kwargs)  # type: ignore[arg-type]


GITLAB: dict[str, Forgery] = {
    "missing header": lambda b, s: (b, {}),
    "empty token": lambda b, s: (b, {"X-Gitlab-Token": ""}),
    "wrong token": lambda b, s: (b, {"X-Gitlab-Token": "wrong"}),
    "other project's secret": lambda b, s: (b, {"X-Gitlab-Token": OTHER_SECRET}),
    "truncated token": lambda b, s: (b, {"X-Gitlab-Token": s[:-1]}),
    "token with whitespace": lambda b, s: (b, {"X-Gitlab-Token": s + " "}),
    "token uppercased": lambda b, s: (b, {"X-Gitlab-Token": s.upper()}),
    "token duplicated": lambda b, s: (b, {"X-Gitlab-Token": f"{s},{s}"}),
    "hmac instead of token": lambda b, s: (b, {"X-Gitlab-Token": hmac_hex(s, b)}),
    "github header instead": lambda b, s: (b, {"X-Hub-Signature-256": "sha256=" + hmac_hex(s, b)}),
    "gitea header instead": lambda b, s: (b, {"X-Gitea-Signature": hmac_hex(s, b)}),
    "valid token, forged signature": lambda b, s: (
        b,
        {"X-Gitlab-Token": s, **_signed(b, "wrong")},
    ),
    "valid signature, wrong token": lambda b, s: (b, {"X-Gitlab-Token": "wrong", **_signed(b, s)}),
    "signed, one byte changed": lambda b, s: (_changed_byte(b), _signed(b, s)),
    "signed, re-serialised JSON": lambda b, s: (b, _signed(_reserialised(b), s)),
    "signed, empty body": lambda b, s: (b"", _signed(b, s)),
    "signed ten minutes ago": lambda b, s: (b, _signed(b, s, timestamp=int(time.time()) - 600)),
    "signed in the future": lambda b, s: (b, _signed(b, s, timestamp=int(time.time()) + 600)),
    "signature without webhook-id": lambda b, s: (
        b,
        {k: v for k, v in _signed(b, s).items() if k != "webhook-id"},
    ),
    "signature keyed with the raw secret": lambda b, s: (
        b,
        gitlab_signed_headers(b, s.encode()),
    ),
    "v2 signature": lambda b, s: (
        b,
        {
            **_signed(b, s),
            "webhook-signature": _signed(b, s)["webhook-signature"].replace("v1,", "v2,"),
        },
    ),
    "empty signature": lambda b, s: (b, {**_signed(b, s), "webhook-signature": ""}),
}

FORGERIES = [
    pytest.param(provider, name, forgery, id=f"{provider}: {name}")
    for provider, table in (("github", GITHUB), ("gitea", GITEA), ("gitlab", GITLAB))
    for name, forgery in table.items()
]


def test_each_provider_has_at_least_fifteen_forgeries():
    assert min(len(GITHUB), len(GITEA), len(GITLAB)) >= 15


@pytest.mark.parametrize("provider", PROVIDERS)
def test_control_the_honest_request_starts_an_analysis(client, hooked, provider):
    project, secret = hooked
    body = body_of(push_payload(provider, project.repo_url))
    headers = {**event_header(provider, "push"), **delivery_header(provider, "control")}
    response = deliver(
        client, project, provider, body, {**headers, **signature_header(provider, body, secret)}
    )
    assert response.status_code == 202
    assert Run.objects.count() == 1


@pytest.mark.parametrize(("provider", "name", "forgery"), FORGERIES)
def test_forged_delivery_is_refused_recorded_and_starts_nothing(
    client, hooked, provider, name, forgery
):
    project, secret = hooked
    body = body_of(push_payload(provider, project.repo_url))
    sent, signature = forgery(body, secret)
    headers = {
        **event_header(provider, "push"),
        **delivery_header(provider, "forged-1"),
        **signature,
    }
    response = deliver(client, project, provider, sent, headers)
    assert response.status_code == 401
    assert Run.objects.count() == 0
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.signature_ok, delivery.first) == ("rejected", False, False)
    assert delivery.body is None  # a forged body is never kept, so it can never be replayed


def test_forged_copy_does_not_block_the_genuine_delivery(client, hooked):
    project, secret = hooked
    body = body_of(push_payload("github", project.repo_url))
    headers = {**event_header("github", "push"), **delivery_header("github", "d-1")}
    forged = deliver(
        client, project, "github", body, {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    )
    genuine = deliver(
        client, project, "github", body, {**headers, **signature_header("github", body, secret)}
    )
    assert (forged.status_code, genuine.status_code) == (401, 202)
    assert Run.objects.count() == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_project_without_a_secret_refuses_every_delivery(client, project, owner, provider):
    project_services.manifest_save(
        actor=owner, project=project, yaml_text=DEMO_MANIFEST, message="m"
    )
    body = body_of(push_payload(provider, project.repo_url))
    headers = {**event_header(provider, "push"), **signature_header(provider, body, "")}
    response = deliver(client, project, provider, body, headers)
    assert response.status_code == 401
    assert "no webhook secret" in response.json()["detail"]
    assert Run.objects.count() == 0


def test_secret_of_another_project_does_not_open_this_one(client, hooked, owner, make_project):
    project, _ = hooked
    other = make_project()
    other_secret = project_services.webhook_secret_regenerate(actor=owner, project=other)
    body = body_of(push_payload("github", project.repo_url))
    headers = {**event_header("github", "push"), **signature_header("github", body, other_secret)}
    assert deliver(client, project, "github", body, headers).status_code == 401
    assert Run.objects.count() == 0


def test_refusal_does_not_echo_the_expected_signature(client, hooked):
    project, secret = hooked
    body = body_of(push_payload("github", project.repo_url))
    headers = {**event_header("github", "push"), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    response = deliver(client, project, "github", body, headers)
    assert hmac_hex(secret, body) not in response.content.decode()
    assert set(response.json()) == {"outcome", "detail"}
