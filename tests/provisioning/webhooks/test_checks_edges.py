"""The webhook checks one by one, on raw headers and bodies: each signature scheme accepts
exactly what its forge sends (with the current or the previous secret) and refuses the
rest with a plain reason; event, delivery id, payload, push and repository are read
strictly. No database, no HTTP: the receiver's tests cover those."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from provisioning.webhooks.checks import (
    GITLAB_SIGNATURE_TOLERANCE_S,
    KEPT_HEADERS,
    PayloadError,
    Push,
    SignatureError,
    body_sha256,
    delivery_id_of,
    event_of,
    gitlab_signing_token,
    kept_headers,
    parse_payload,
    parse_push,
    repo_key,
    repo_matches,
    verify_signature,
)
from tests.provisioning.webhooks.webhook_helpers import (
    gitlab_signed_headers,
    gitlab_signing_key,
    hmac_hex,
)

BODY = b'{"ref": "refs/heads/main"}'
CURRENT, PREVIOUS, OTHER = "current-secret", "previous-secret", "someone-else"
NOW = 1_800_000_000.0
COMMIT = "a" * 40


def signed(secret: str, *, timestamp: int = int(NOW)) -> dict[str, str]:
    """GitLab's standard-webhook headers for BODY, signed with `secret`'s key."""
    return gitlab_signed_headers(BODY, gitlab_signing_key(secret), timestamp=timestamp)


def standard_signature(secret: str, *, timestamp: int = int(NOW)) -> str:
    return signed(secret, timestamp=timestamp)["webhook-signature"]


def standard_headers(signature: str, *, msg_id: str = "msg-1", timestamp: Any = None) -> dict:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(NOW) if timestamp is None else timestamp),
        "webhook-signature": signature,
    }


def refused(provider: str, headers: dict[str, str], secrets: list[str] | None = None) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_signature(provider, headers, BODY, secrets or [CURRENT, PREVIOUS], now=NOW)
    return str(caught.value)


def accepted(provider: str, headers: dict[str, str], secrets: list[str] | None = None) -> None:
    verify_signature(provider, headers, BODY, secrets or [CURRENT, PREVIOUS], now=NOW)


# --- Which secrets and providers ----------------------------------------------------------


@pytest.mark.parametrize("secrets", [[], [""], ["", ""]])
def test_a_project_without_a_secret_accepts_nothing(secrets: list[str]) -> None:
    headers = {"x-hub-signature-256": "sha256=" + hmac_hex("", BODY)}
    with pytest.raises(SignatureError, match=r"^no webhook secret is set for this project$"):
        verify_signature("github", headers, BODY, secrets, now=NOW)


def test_an_unknown_provider_is_refused_by_name() -> None:
    assert refused("bitbucket", {}) == "unknown provider 'bitbucket'"


@pytest.mark.parametrize("provider", ["github", "gitea"])
@pytest.mark.parametrize("secret", [CURRENT, PREVIOUS])
def test_hmac_providers_accept_the_current_and_the_previous_secret(
    provider: str, secret: str
) -> None:
    name = "x-hub-signature-256" if provider == "github" else "x-gitea-signature"
    value = ("sha256=" if provider == "github" else "") + hmac_hex(secret, BODY)
    accepted(provider, {name: value})
    accepted(provider, {name: value}, secrets=["", secret])  # an unset slot is skipped


# --- GitHub ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "the X-Hub-Signature-256 header is missing"),
        (
            {"x-hub-signature": "sha1=" + hmac_hex(CURRENT, BODY, hashlib.sha1)},
            "the X-Hub-Signature-256 header is missing",
        ),
        (
            {"x-hub-signature-256": "sha1=" + hmac_hex(CURRENT, BODY)},
            "X-Hub-Signature-256 must be 'sha256=' and 64 lowercase hex digits",
        ),
        (
            {"x-hub-signature-256": hmac_hex(CURRENT, BODY)},
            "X-Hub-Signature-256 must be 'sha256=' and 64 lowercase hex digits",
        ),
        (
            {"x-hub-signature-256": "sha256=" + hmac_hex(CURRENT, BODY).upper()},
            "X-Hub-Signature-256 must be 'sha256=' and 64 lowercase hex digits",
        ),
        (
            {"x-hub-signature-256": "sha256=" + hmac_hex(CURRENT, BODY)[:63]},
            "X-Hub-Signature-256 must be 'sha256=' and 64 lowercase hex digits",
        ),
        (
            {"x-hub-signature-256": "sha256=" + hmac_hex(OTHER, BODY)},
            "X-Hub-Signature-256 does not match the body",
        ),
    ],
)
def test_github_refuses_anything_but_a_matching_sha256_signature(
    headers: dict[str, str], reason: str
) -> None:
    assert refused("github", headers) == reason


def test_github_signature_over_another_body_does_not_match() -> None:
    headers = {"x-hub-signature-256": "sha256=" + hmac_hex(CURRENT, b"{}")}
    assert refused("github", headers) == "X-Hub-Signature-256 does not match the body"


# --- Gitea / Forgejo ------------------------------------------------------------------------


def test_gitea_accepts_a_forgejo_signature_alone() -> None:
    accepted("gitea", {"x-forgejo-signature": hmac_hex(CURRENT, BODY)})


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "the X-Gitea-Signature / X-Forgejo-Signature header is missing"),
        ({"x-gitea-signature": "sha256=" + hmac_hex(CURRENT, BODY)}, None),
        (
            {"x-gitea-signature": hmac_hex(OTHER, BODY)},
            "x-gitea-signature does not match the body",
        ),
        (  # every signature sent must hold, not just one of them
            {
                "x-gitea-signature": hmac_hex(CURRENT, BODY),
                "x-forgejo-signature": hmac_hex(OTHER, BODY),
            },
            "x-forgejo-signature does not match the body",
        ),
        (
            {"x-gitea-signature": hmac_hex(CURRENT, BODY), "x-forgejo-signature": "zz"},
            "x-forgejo-signature must be 64 lowercase hex digits",
        ),
    ],
)
def test_gitea_refuses_missing_malformed_or_any_mismatching_signature(
    headers: dict[str, str], reason: str | None
) -> None:
    expected = reason or "x-gitea-signature must be 64 lowercase hex digits"
    assert refused("gitea", headers) == expected


# --- GitLab ---------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [CURRENT, PREVIOUS])
def test_gitlab_accepts_the_token_of_either_secret(secret: str) -> None:
    accepted("gitlab", {"x-gitlab-token": secret})


def test_gitlab_refuses_no_token_and_a_wrong_token() -> None:
    assert refused("gitlab", {}) == "the X-Gitlab-Token (or webhook-signature) header is missing"
    assert refused("gitlab", {"x-gitlab-token": OTHER}) == "X-Gitlab-Token does not match"
    assert refused("gitlab", {"x-gitlab-token": ""}) == "X-Gitlab-Token does not match"


@pytest.mark.parametrize("secret", [CURRENT, PREVIOUS])
def test_gitlab_accepts_a_standard_webhook_signature_of_either_secret(secret: str) -> None:
    accepted("gitlab", signed(secret))


def test_gitlab_needs_both_token_and_signature_to_hold_when_both_are_sent() -> None:
    good_signature = signed(CURRENT)
    bad_signature = signed(OTHER)
    accepted("gitlab", {**good_signature, "x-gitlab-token": CURRENT})
    assert (
        refused("gitlab", {**good_signature, "x-gitlab-token": OTHER})
        == "X-Gitlab-Token does not match"
    )
    assert (
        refused("gitlab", {**bad_signature, "x-gitlab-token": CURRENT})
        == "webhook-signature does not match the body"
    )


def test_the_signing_token_has_the_whsec_form_and_a_given_one_is_kept() -> None:
    derived = gitlab_signing_token("plain")
    assert derived == "whsec_" + base64.b64encode(hashlib.sha256(b"plain").digest()).decode()
    assert gitlab_signing_token(derived) == derived


def test_a_whsec_secret_signs_with_its_own_key() -> None:
    token = "whsec_" + base64.b64encode(b"k" * 32).decode()
    accepted("gitlab", gitlab_signed_headers(BODY, b"k" * 32, timestamp=int(NOW)), secrets=[token])


def test_a_whsec_secret_that_is_not_base64_is_skipped_not_fatal() -> None:
    good = signed(CURRENT)
    accepted("gitlab", good, secrets=["whsec_not*base64", CURRENT])
    assert (
        refused("gitlab", good, secrets=["whsec_not*base64"])
        == "webhook-signature does not match the body"
    )


@pytest.mark.parametrize("offset", [-GITLAB_SIGNATURE_TOLERANCE_S, GITLAB_SIGNATURE_TOLERANCE_S])
def test_a_signature_exactly_five_minutes_off_is_accepted(offset: int) -> None:
    timestamp = int(NOW) + offset
    accepted("gitlab", signed(CURRENT, timestamp=timestamp))


@pytest.mark.parametrize(
    "offset", [-GITLAB_SIGNATURE_TOLERANCE_S - 1, GITLAB_SIGNATURE_TOLERANCE_S + 1]
)
def test_a_signature_more_than_five_minutes_off_is_refused(offset: int) -> None:
    timestamp = int(NOW) + offset
    assert (
        refused("gitlab", signed(CURRENT, timestamp=timestamp))
        == "webhook-timestamp is more than 5 minutes away from now"
    )


@pytest.mark.parametrize(
    ("msg_id", "timestamp"),
    [("", None), ("has space", None), ("x" * 129, None), ("msg-1", ""), ("msg-1", "12a")],
)
def test_a_signature_needs_a_plain_message_id_and_timestamp(msg_id: str, timestamp: Any) -> None:
    headers = standard_headers(standard_signature(CURRENT), msg_id=msg_id, timestamp=timestamp)
    assert refused("gitlab", headers) == (
        "webhook-signature needs valid webhook-id and webhook-timestamp"
    )


def test_the_message_id_and_timestamp_are_part_of_what_is_signed() -> None:
    headers = standard_headers(standard_signature(CURRENT), msg_id="msg-2")
    assert refused("gitlab", headers) == "webhook-signature does not match the body"


def test_one_matching_signature_among_several_is_enough() -> None:
    good = standard_signature(CURRENT)
    accepted("gitlab", standard_headers(f"v1,AAAA {good}"))
    accepted("gitlab", standard_headers(f"{good} v1,AAAA"))


@pytest.mark.parametrize("signature", ["", "v2,abcd", "v1abcd", standard_signature(CURRENT)[3:]])
def test_a_signature_header_without_a_v1_entry_is_refused(signature: str) -> None:
    assert (
        refused("gitlab", standard_headers(signature))
        == "webhook-signature holds no 'v1,<base64>' signature"
    )


# --- Event and delivery id --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "headers", "expected"),
    [
        ("github", {"x-github-event": "push"}, ("push", "push")),
        ("github", {"x-github-event": "ping"}, ("ping", "ping")),
        ("github", {"x-github-event": "issues"}, ("issues", "other")),
        ("github", {"x-github-event": "  push  "}, ("push", "push")),
        ("github", {}, ("", "")),
        ("github", {"x-github-event": "   "}, ("", "")),
        ("gitlab", {"x-gitlab-event": "Push Hook"}, ("Push Hook", "push")),
        ("gitlab", {"x-gitlab-event": "push"}, ("push", "other")),
        ("gitlab", {"x-gitlab-event": "Tag Push Hook"}, ("Tag Push Hook", "other")),
        ("gitea", {"x-forgejo-event": "push"}, ("push", "push")),
        ("gitea", {"x-gogs-event": "ping"}, ("ping", "ping")),
        ("gitea", {"x-gitea-event": "", "x-forgejo-event": "push"}, ("push", "push")),
        ("gitea", {"x-gitea-event": "push", "x-forgejo-event": "ping"}, ("push", "push")),
        ("github", {"x-github-event": "e" * 100}, ("e" * 64, "other")),
    ],
)
def test_the_event_is_read_from_the_providers_headers_in_order(
    provider: str, headers: dict[str, str], expected: tuple[str, str]
) -> None:
    assert event_of(provider, headers) == expected


def test_a_plain_delivery_id_is_kept_as_sent() -> None:
    delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert delivery_id_of("github", {"x-github-delivery": delivery}, BODY) == delivery
    assert delivery_id_of("github", {"x-github-delivery": "x" * 128}, BODY) == "x" * 128


@pytest.mark.parametrize("odd", ["has space", "x" * 129, "é", "a/b"])
def test_an_odd_delivery_id_is_replaced_by_its_hash(odd: str) -> None:
    expected = "sha256:" + hashlib.sha256(odd.encode()).hexdigest()
    assert delivery_id_of("github", {"x-github-delivery": odd}, BODY) == expected


def test_without_a_delivery_id_the_body_hash_stands_in() -> None:
    assert delivery_id_of("gitea", {}, BODY) == "body-sha256:" + hashlib.sha256(BODY).hexdigest()
    assert body_sha256(BODY) == hashlib.sha256(BODY).hexdigest()


def test_gitlab_prefers_the_idempotency_key_that_survives_its_retries() -> None:
    headers = {"webhook-id": "w", "x-gitlab-event-uuid": "u"}
    assert delivery_id_of("gitlab", {**headers, "idempotency-key": "i"}, BODY) == "i"
    assert delivery_id_of("gitlab", headers, BODY) == "w"
    assert delivery_id_of("gitlab", {"x-gitlab-event-uuid": "u"}, BODY) == "u"
    assert delivery_id_of("gitea", {"x-forgejo-delivery": "f"}, BODY) == "f"


def test_only_harmless_headers_are_kept_and_each_is_cut_at_200_characters() -> None:
    headers = {
        "content-type": "application/json",
        "x-github-event": "push",
        "user-agent": "u" * 300,
        "x-hub-signature-256": "sha256=secret-ish",
        "x-gitlab-token": "token",
        "webhook-signature": "v1,abc",
        "authorization": "Bearer x",
        "cookie": "a=b",
    }
    assert kept_headers(headers) == {
        "content-type": "application/json",
        "x-github-event": "push",
        "user-agent": "u" * 200,
    }
    assert not {"x-hub-signature-256", "x-gitlab-token", "webhook-signature"} & KEPT_HEADERS


# --- Payload and push ---------------------------------------------------------------------


def test_a_json_body_is_read_as_an_object() -> None:
    assert parse_payload(b'{"a": 1}', "application/json") == {"a": 1}
    assert parse_payload(b'{"a": 1}', "") == {"a": 1}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        " application/x-www-form-urlencoded ;charset=utf-8",
    ],
)
def test_a_form_encoded_body_carries_the_json_in_its_payload_field(content_type: str) -> None:
    body = b"payload=%7B%22a%22%3A+1%7D&other=x"
    assert parse_payload(body, content_type) == {"a": 1}


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"\xff\xfe", "application/json", "the body is not valid JSON"),
        (b"{not json", "application/json", "the body is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "the body is not valid JSON"),
        (b"other=x", "application/x-www-form-urlencoded", "the body is not valid JSON"),
        (
            b"&".join(b"f%d=1" % i for i in range(21)) + b"&payload=%7B%7D",
            "application/x-www-form-urlencoded",
            "the body is not valid JSON",
        ),
        (b"[1, 2]", "application/json", "the body is not a JSON object"),
        (b'"text"', "application/json", "the body is not a JSON object"),
        (b"payload=%5B%5D", "application/x-www-form-urlencoded", "the body is not a JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_with_the_reason(
    body: bytes, content_type: str, reason: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, content_type)
    assert str(caught.value) == reason


def test_a_push_reads_ref_commit_and_whether_the_branch_was_deleted() -> None:
    assert parse_push({"ref": "refs/heads/main", "after": COMMIT}) == Push(
        "refs/heads/main", COMMIT, deleted=False
    )
    ref = "refs/heads/r"
    assert parse_push({"ref": ref, "after": "b" * 64}).after == "b" * 64
    assert parse_push({"ref": ref, "after": "0" * 40}).deleted
    assert parse_push({"ref": ref, "after": COMMIT, "deleted": True}).deleted
    assert not parse_push({"ref": ref, "after": COMMIT, "deleted": "true"}).deleted
    longest = "refs/heads/" + "r" * 244
    assert parse_push({"ref": longest, "after": COMMIT}).ref == longest


@pytest.mark.parametrize("ref", [None, "", 7, ["refs/heads/main"]])
def test_a_push_without_a_usable_ref_is_refused(ref: Any) -> None:
    with pytest.raises(PayloadError, match=r"^a push payload needs a 'ref'$"):
        parse_push({"ref": ref, "after": COMMIT})


@pytest.mark.parametrize("ref", ["r", "refs/heads/" + "r" * 245, "refs/heads/a..b"])
def test_a_push_whose_ref_git_would_refuse_is_refused(ref: str) -> None:
    with pytest.raises(PayloadError, match=r"^the push's 'ref' is not a valid git reference"):
        parse_push({"ref": ref, "after": COMMIT})


@pytest.mark.parametrize("after", [None, "", "a" * 39, "a" * 41, "A" * 40, "g" * 40, 1])
def test_a_push_without_a_commit_id_is_refused(after: Any) -> None:
    with pytest.raises(PayloadError, match=r"^a push payload needs 'after', a commit id$"):
        parse_push({"ref": "refs/heads/main", "after": after})


# --- Repository match ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("HTTPS://GitHub.com/Acme/Repo.GIT", ("github.com", "acme/repo")),
        ("git://h/a/b.git/", ("h", "a/b")),
        ("https://h/a/b.git.git", ("h", "a/b.git")),
        ("  https://h/a/b  ", ("h", "a/b")),
        ("git@h:a/b.git", ("h", "a/b")),
        ("h:a/b", ("h", "a/b")),
        ("ftp://h/a/b", None),
        ("https://[::1/x", None),
        ("git@h:/a/b", None),
        ("git@h:", None),
        ("https://h", None),
    ],
)
def test_repository_keys_ignore_scheme_user_port_suffix_and_case(
    url: str, key: tuple[str, str] | None
) -> None:
    assert repo_key(url) == key


REPO = "https://github.com/acme/healthai.git"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"repository": {"clone_url": "https://github.com/Acme/HealthAI"}}, True),
        ({"repository": {"ssh_url": "git@github.com:acme/healthai.git"}}, True),
        ({"project": {"git_http_url": REPO}}, True),
        ({"repository": {"clone_url": "https://github.com/acme/other"}}, False),
        (  # one address of the repository is enough
            {"repository": {"html_url": "https://mirror/x", "clone_url": REPO}},
            True,
        ),
        ({"repository": {"clone_url": "https://[::1/x"}}, False),
        ({"repository": {"full_name": "Acme/HealthAI"}}, True),
        ({"project": {"path_with_namespace": "/acme/healthai/"}}, True),
        ({"repository": {"full_name": "acme/other"}}, False),
        (  # addresses win over names when both are sent
            {"repository": {"full_name": "acme/healthai", "clone_url": "https://x/y"}},
            False,
        ),
        ({}, None),
        ({"repository": "acme/healthai"}, None),
        ({"repository": {"clone_url": "", "full_name": 7}}, None),
    ],
)
def test_the_payload_must_name_the_projects_repository(
    payload: dict[str, Any], expected: bool | None
) -> None:
    assert repo_matches(REPO, payload) is expected


def test_a_project_url_that_is_no_repository_matches_nothing() -> None:
    payload = {"repository": {"clone_url": REPO}}
    assert repo_matches("not a url", payload) is False
    assert repo_matches("not a url", {}) is None


def test_a_payload_body_round_trips_through_json() -> None:
    payload = {"ref": "refs/heads/main", "after": COMMIT, "repository": {"clone_url": REPO}}
    parsed = parse_payload(json.dumps(payload).encode(), "application/json")
    assert repo_matches(REPO, parsed) is True
    assert parse_push(parsed) == Push("refs/heads/main", COMMIT, False)


# --- Edges found by mutation testing ---------------------------------------------------------


def test_a_whsec_secret_with_a_stray_character_is_not_repaired_into_a_key() -> None:
    key = b"k" * 32
    encoded = base64.b64encode(key).decode()
    damaged = "whsec_" + encoded[:10] + "*" + encoded[10:]
    headers = gitlab_signed_headers(BODY, key, timestamp=int(NOW))
    reason = refused("gitlab", headers, secrets=[damaged])
    assert reason == "webhook-signature does not match the body"


@pytest.mark.parametrize("absent", ["webhook-id", "webhook-timestamp"])
def test_a_signature_without_its_id_or_timestamp_header_is_refused(absent: str) -> None:
    headers = signed(CURRENT)
    del headers[absent]
    assert refused("gitlab", headers) == (
        "webhook-signature needs valid webhook-id and webhook-timestamp"
    )


def test_signatures_are_separated_by_single_spaces_only() -> None:
    good = standard_signature(CURRENT)
    assert (
        refused("gitlab", standard_headers(f"v1,AAAA\t{good}"))
        == "webhook-signature does not match the body"
    )


def test_a_delivery_id_that_cannot_be_encoded_is_still_hashed() -> None:
    odd = "bad\ud800id"
    expected = "sha256:" + hashlib.sha256(odd.encode("utf-8", "replace")).hexdigest()
    assert delivery_id_of("github", {"x-github-delivery": odd}, BODY) == expected


def test_a_form_body_may_hold_twenty_fields_and_no_more() -> None:
    others = b"&".join(b"f%d=1" % i for i in range(19))
    form = "application/x-www-form-urlencoded"
    assert parse_payload(others + b"&payload=%7B%7D", form) == {}
    with pytest.raises(PayloadError):
        parse_payload(others + b"&f19=1&payload=%7B%7D", form)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://gitea.example:3000/org/repo", ("gitea.example", "org/repo")),
        ("ssh://git@gitlab.example:2222/g/sub/repo.git", ("gitlab.example", "g/sub/repo")),
        ("file:///srv/git/repo.git", ("", "srv/git/repo")),
        ("/srv/git/repo.git", ("", "srv/git/repo")),
        ("https://h/a/b/.git", ("h", "a/b")),
        ("https://h/Xylo/Repo", ("h", "xylo/repo")),
    ],
)
def test_every_repository_scheme_and_local_paths_have_keys(url: str, key: tuple[str, str]) -> None:
    assert repo_key(url) == key


def test_addresses_and_names_from_repository_and_project_are_all_considered() -> None:
    both = {
        "repository": {"clone_url": REPO, "full_name": "acme/healthai"},
        "project": {"web_url": "https://mirror.example/else", "path_with_namespace": "x/y"},
    }
    assert repo_matches(REPO, both) is True
    names = {"repository": {"full_name": "acme/healthai"}, "project": {"path_with_namespace": "x"}}
    assert repo_matches(REPO, names) is True


def test_a_name_is_compared_without_dropping_its_letters() -> None:
    payload = {"repository": {"full_name": "Xylo/Repo"}}
    assert repo_matches("https://github.com/xylo/repo", payload) is True
