"""What a webhook request must prove before anything in it is trusted.

Plain functions over the raw request (lower-cased header names and the raw body bytes):
signature checks (docs/security.md#s11), event and delivery id, payload parsing and the
repository match (section 13). Nothing here touches the database.

Signatures, per provider, always over the raw body and compared in constant time:

* GitHub: ``X-Hub-Signature-256: sha256=<64 lowercase hex>``, HMAC-SHA256 of the body.
  The legacy SHA-1 ``X-Hub-Signature`` is never enough.
* Gitea / Forgejo: ``X-Gitea-Signature`` and/or ``X-Forgejo-Signature``: 64 lowercase hex,
  HMAC-SHA256 of the body. Every one of them that is present must match.
* GitLab: ``X-Gitlab-Token`` equal to the secret. GitLab's newer signed webhooks follow
  the Standard Webhooks scheme: ``webhook-signature: v1,<base64>`` (one or more,
  space-separated), an HMAC-SHA256 over ``<webhook-id>.<webhook-timestamp>.<body>`` keyed
  with the *signing token* (``whsec_<base64 of 32 bytes>``). When that header is present
  it must verify (timestamp within 5 minutes) and any token sent as well must match; a
  request with neither is refused. The signing token for a project is derived from its
  webhook secret by `gitlab_signing_token` (the secret itself when it already has the
  ``whsec_`` form), so one secret covers both GitLab mechanisms.

The current and the previous secret are both accepted, so a secret can be rotated
without losing deliveries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bmadweb.crypto import constant_time_equal, hmac_sha256_hex

Headers = Mapping[str, str]  # lower-cased header names

PROVIDERS = ("github", "gitlab", "gitea")
GITLAB_SIGNATURE_TOLERANCE_S = 300

EVENT_HEADERS: dict[str, tuple[str, ...]] = {
    "github": ("x-github-event",),
    "gitlab": ("x-gitlab-event",),
    "gitea": ("x-gitea-event", "x-forgejo-event", "x-gogs-event"),
}
DELIVERY_HEADERS: dict[str, tuple[str, ...]] = {
    "github": ("x-github-delivery",),
    # Idempotency-Key stays the same across GitLab's retries of one delivery.
    "gitlab": ("idempotency-key", "webhook-id", "x-gitlab-event-uuid"),
    "gitea": ("x-gitea-delivery", "x-forgejo-delivery", "x-gogs-delivery"),
}
# Headers kept on the ledger row (for replay and display); never signatures or tokens.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "user-agent",
        "x-github-hook-id",
        "x-gitlab-instance",
        "x-gitlab-webhook-uuid",
        "webhook-timestamp",
        *(name for names in EVENT_HEADERS.values() for name in names),
        *(name for names in DELIVERY_HEADERS.values() for name in names),
    }
)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SCP = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^@/:]+):(?P<path>[^/:].*)$")


class SignatureError(Exception):
    """The request did not prove it comes from the project's forge (plain reason)."""


class PayloadError(Exception):
    """A signed body that cannot be understood (plain reason)."""


# --- Signatures -------------------------------------------------------------------------


def verify_signature(
    provider: str, headers: Headers, body: bytes, secrets: Sequence[str], *, now: float
) -> None:
    """Raise SignatureError unless the request is signed with one of `secrets`."""
    usable = [s for s in secrets if s]
    if not usable:
        raise SignatureError("no webhook secret is set for this project")
    if provider == "github":
        _verify_github(headers, body, usable)
    elif provider == "gitea":
        _verify_gitea(headers, body, usable)
    elif provider == "gitlab":
        _verify_gitlab(headers, body, usable, now=now)
    else:
        raise SignatureError(f"unknown provider {provider!r}")


def _hmac_matches(secrets: Sequence[str], body: bytes, given: str) -> bool:
    matched = False
    for secret in secrets:  # no early exit: every secret costs the same
        matched |= constant_time_equal(hmac_sha256_hex(secret.encode("utf-8"), body), given)
    return matched


def _verify_github(headers: Headers, body: bytes, secrets: Sequence[str]) -> None:
    value = headers.get("x-hub-signature-256")
    if value is None:
        raise SignatureError("the X-Hub-Signature-256 header is missing")
    algorithm, sep, digest = value.partition("=")
    if algorithm != "sha256" or not sep or not _HEX64.fullmatch(digest):
        raise SignatureError("X-Hub-Signature-256 must be 'sha256=' and 64 lowercase hex digits")
    if not _hmac_matches(secrets, body, digest):
        raise SignatureError("X-Hub-Signature-256 does not match the body")


def _verify_gitea(headers: Headers, body: bytes, secrets: Sequence[str]) -> None:
    names = ("x-gitea-signature", "x-forgejo-signature")
    present = [(name, headers[name]) for name in names if name in headers]
    if not present:
        raise SignatureError("the X-Gitea-Signature / X-Forgejo-Signature header is missing")
    for name, value in present:
        if not _HEX64.fullmatch(value):
            raise SignatureError(f"{name} must be 64 lowercase hex digits")
        if not _hmac_matches(secrets, body, value):
            raise SignatureError(f"{name} does not match the body")


def _verify_gitlab(headers: Headers, body: bytes, secrets: Sequence[str], *, now: float) -> None:
    token = headers.get("x-gitlab-token")
    signature = headers.get("webhook-signature")
    if token is None and signature is None:
        raise SignatureError("the X-Gitlab-Token (or webhook-signature) header is missing")
    if token is not None:
        matched = False
        for secret in secrets:
            matched |= constant_time_equal(secret, token)
        if not matched:
            raise SignatureError("X-Gitlab-Token does not match")
    if signature is not None:
        _verify_standard_webhook(headers, signature, body, secrets, now=now)


def gitlab_signing_token(secret: str) -> str:
    """The GitLab signing token (``whsec_…``) that goes with a project's webhook secret."""
    if secret.startswith("whsec_"):
        return secret
    key = hashlib.sha256(secret.encode("utf-8")).digest()
    return "whsec_" + base64.b64encode(key).decode("ascii")


def _signing_key(secret: str) -> bytes | None:
    try:
        return base64.b64decode(gitlab_signing_token(secret)[6:], validate=True)
    except (binascii.Error, ValueError):
        return None


def _verify_standard_webhook(
    headers: Headers, signature: str, body: bytes, secrets: Sequence[str], *, now: float
) -> None:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not _DELIVERY_ID.fullmatch(msg_id) or not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("webhook-signature needs valid webhook-id and webhook-timestamp")
    if abs(now - int(timestamp)) > GITLAB_SIGNATURE_TOLERANCE_S:
        raise SignatureError("webhook-timestamp is more than 5 minutes away from now")
    given = [part[3:] for part in signature.split(" ") if part.startswith("v1,")]
    if not given:
        raise SignatureError("webhook-signature holds no 'v1,<base64>' signature")
    message = f"{msg_id}.{timestamp}.".encode("ascii") + body
    matched = False
    for secret in secrets:
        key = _signing_key(secret)
        if key is None:
            continue
        expected = base64.b64encode(bytes.fromhex(hmac_sha256_hex(key, message))).decode()
        for candidate in given:
            matched |= constant_time_equal(expected, candidate)
    if not matched:
        raise SignatureError("webhook-signature does not match the body")


# --- Event and delivery id --------------------------------------------------------------


def _first_header(headers: Headers, names: Sequence[str]) -> str:
    for name in names:
        value = headers.get(name, "").strip()
        if value:
            return value
    return ""


_KINDS = {
    "gitlab": {"Push Hook": "push", "Merge Request Hook": "pull_request"},
    "github": {"ping": "ping", "push": "push", "pull_request": "pull_request"},
    "gitea": {"ping": "ping", "push": "push", "pull_request": "pull_request"},
}


def kind_of(provider: str, event: str) -> str:
    """The kind of a sent event name: "ping", "push", "pull_request" or "other"."""
    return _KINDS.get(provider, {}).get(event, "other")


def event_of(provider: str, headers: Headers) -> tuple[str, str]:
    """(event name as sent, kind) where kind is "ping", "push", "pull_request", "other" or
    "" (none sent)."""
    raw = _first_header(headers, EVENT_HEADERS[provider])[:64]
    if not raw:
        return "", ""
    return raw, kind_of(provider, raw)


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def delivery_id_of(provider: str, headers: Headers, body: bytes) -> str:
    """The provider's delivery id; a hash of an odd-looking one; the body's hash if none."""
    value = _first_header(headers, DELIVERY_HEADERS[provider])
    if not value:
        return "body-sha256:" + body_sha256(body)
    if _DELIVERY_ID.fullmatch(value):
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def kept_headers(headers: Headers) -> dict[str, str]:
    return {name: value[:200] for name, value in headers.items() if name in KEPT_HEADERS}


# --- Payload ----------------------------------------------------------------------------


def parse_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """The JSON object a delivery carries (GitHub may also send it form-encoded)."""
    try:
        text = body.decode("utf-8")
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            text = parse_qs(text, max_num_fields=20).get("payload", [""])[0]
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PayloadError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise PayloadError("the body is not a JSON object")
    return data


@dataclass(frozen=True)
class Push:
    ref: str
    after: str
    deleted: bool


# A ref as git allows it (git check-ref-format): no control characters (NUL included),
# no space or ~^:?*[\\, and text that can be stored (no lone surrogates).
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)")


def _valid_ref(ref: object) -> bool:
    if not isinstance(ref, str) or not ref.startswith("refs/") or len(ref) > 255:
        return False
    try:
        ref.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not _REF_FORBIDDEN.search(ref) and not ref.endswith((".", "/"))


def parse_push(payload: Mapping[str, Any]) -> Push:
    """The push's ref and commit. A ref git would refuse (NUL, control characters, a lone
    surrogate, ...) is a PayloadError: the delivery is recorded as rejected and answered
    400, which the forge does not retry, instead of failing to be stored (a 503 the forge
    would retry forever)."""
    ref, after = payload.get("ref"), payload.get("after")
    if not isinstance(ref, str) or not ref:
        raise PayloadError("a push payload needs a 'ref'")
    if not _valid_ref(ref):
        raise PayloadError("the push's 'ref' is not a valid git reference name")
    if not isinstance(after, str) or not _COMMIT.fullmatch(after):
        raise PayloadError("a push payload needs 'after', a commit id")
    deleted = set(after) == {"0"} or payload.get("deleted") is True
    return Push(ref=ref, after=after, deleted=deleted)


@dataclass(frozen=True)
class PullRequest:
    """A pull (merge) request event that changes its state: opened, merged or closed."""

    state: str  # "open", "merged" or "closed" (PullRequestState values)
    branch: str  # the head (source) branch
    url: str  # the web address of the request, "" when not sent
    foreign: bool = False  # the head branch lives in another repository (a fork)


_GITLAB_ACTIONS = {"open": "open", "reopen": "open", "merge": "merged", "close": "closed"}


def _text(container: Any, key: str, limit: int = 255) -> str:
    value = container.get(key) if isinstance(container, Mapping) else None
    return value[:limit] if isinstance(value, str) else ""


def parse_pull_request(provider: str, payload: Mapping[str, Any]) -> PullRequest | None:
    """The state a pull request event moves its request to; None for actions that change
    no state (edited, synchronize, labeled, approved, update ...).

    GitHub and Gitea send ``pull_request`` with ``action`` opened, reopened or closed
    (``pull_request.merged`` telling a merge from a close); GitLab sends a Merge Request
    Hook whose ``object_attributes.action`` is open, reopen, merge or close."""
    if provider == "gitlab":
        attrs = payload.get("object_attributes")
        if not isinstance(attrs, Mapping):
            raise PayloadError("a merge request payload needs 'object_attributes'")
        state = _GITLAB_ACTIONS.get(_text(attrs, "action"))
        if state is None:
            return None
        branch = _text(attrs, "source_branch")
        source, target = attrs.get("source_project_id"), attrs.get("target_project_id")
        foreign = source is not None and target is not None and source != target
        url = _text(attrs, "url", 500)
    else:
        pull = payload.get("pull_request")
        if not isinstance(pull, Mapping):
            raise PayloadError("a pull request payload needs 'pull_request'")
        action = _text(payload, "action")
        if action in ("opened", "reopened"):
            state = "open"
        elif action == "closed":
            state = "merged" if pull.get("merged") is True else "closed"
        else:
            return None
        head, base = pull.get("head"), pull.get("base")
        branch = _text(head, "ref")
        head_repo = _text(head.get("repo") if isinstance(head, Mapping) else None, "full_name")
        base_repo = _text(base.get("repo") if isinstance(base, Mapping) else None, "full_name")
        foreign = bool(head_repo and base_repo and head_repo.casefold() != base_repo.casefold())
        url = _text(pull, "html_url", 500)
    if not branch:
        raise PayloadError("a pull request payload needs its head branch")
    return PullRequest(state=state, branch=branch, url=url, foreign=foreign)


# --- Repository match -------------------------------------------------------------------

_URL_KEYS = (
    "clone_url",
    "ssh_url",
    "git_url",
    "html_url",
    "svn_url",
    "url",
    "git_http_url",
    "git_ssh_url",
    "web_url",
    "homepage",
)
_NAME_KEYS = ("full_name", "path_with_namespace")


def repo_key(url: str) -> tuple[str, str] | None:
    """(host, path) identifying a repository: scheme, user, port, ``.git`` and letter case
    do not matter. None for something that is not a repository address."""
    url = url.strip()
    if "://" in url:
        try:  # urlsplit refuses a malformed IPv6 host ("https://[::1/x")
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return None
        if parts.scheme.lower() not in ("https", "http", "ssh", "git", "file"):
            return None
        path = parts.path
    elif match := _SCP.match(url):
        host, path = match["host"].lower(), match["path"]
    elif url.startswith("/"):
        host, path = "", url
    else:
        return None
    path = path.strip("/").casefold().removesuffix(".git").rstrip("/")
    return (host, path) if path else None


def repo_matches(repo_url: str, payload: Mapping[str, Any]) -> bool | None:
    """Whether the payload's repository is the project's; None when it names none.

    The payload's addresses are only compared, never used: bmadweb clones the project's
    own URL.
    """
    wanted = repo_key(repo_url)
    urls: list[str] = []
    names: list[str] = []
    for container in (payload.get("repository"), payload.get("project")):
        if isinstance(container, Mapping):
            urls += [v for k in _URL_KEYS if isinstance(v := container.get(k), str) and v]
            names += [v for k in _NAME_KEYS if isinstance(v := container.get(k), str) and v]
    if not urls and not names:
        return None
    if wanted is None:
        return False
    if urls:
        return any(repo_key(url) == wanted for url in urls)
    return any(name.strip("/").casefold() == wanted[1] for name in names)
