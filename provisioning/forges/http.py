"""HTTP to the forges: one connection per call with fixed hardening, answers read through a
size cap and parsed defensively, errors turned into our own sentences (docs/security.md).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from bmadweb.logscrub import scrub_values
from provisioning.forges.repo_urls import (
    ForgeError,
    ForgeKind,
    ForgeOrg,
    ForgeRepo,
)

logger = logging.getLogger(__name__)


USER_AGENT = "bmadweb"


MAX_ANSWER_BYTES = 1024 * 1024


PAGE_SIZE = 50  # Gitea's default cap on page size; GitHub and GitLab allow 100


MAX_PAGES = 20


AUTH_REFUSED = "the forge token was refused: check it has pull-request scope"


REPO_NOT_FOUND = "repository not found on the forge, or the token cannot see it"


UNEXPECTED_ANSWER = "unexpected answer from the forge"


_PRINTABLE_DETAIL = re.compile(r"[^\x20-\x7e]+")


class ForgeTransientError(ForgeError):
    """A failure worth retrying later (rate limit, forge down, timeout, network)."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Wanted:
    head: str
    base: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: httpx.Headers
    raw: bytes


class Connection:
    """One httpx client for one forge call, with error mapping and token scrubbing."""

    def __init__(
        self,
        repo: ForgeRepo | ForgeOrg,
        token: str,
        timeout_s: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.target = repo  # a repository, or an organisation for discovery
        self._token = token
        self._timeout_s = timeout_s
        self._client = httpx.Client(
            headers={**_auth_headers(repo.kind, token), "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,  # no proxies or .netrc credentials from the environment
            transport=transport,
        )

    @property
    def repo(self) -> ForgeRepo:
        if not isinstance(self.target, ForgeRepo):
            raise TypeError("this connection is to an organisation, not a repository")
        return self.target

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"<Connection {self.target.kind} {self.target.owner_path}>"

    def json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, str] | None = None,
        conflict_ok: bool = False,
    ) -> Any:
        """Send one request and return its parsed JSON (``None`` for an accepted conflict)."""
        answer = self._send(method, path, params, body)
        if conflict_ok and is_already_exists(answer):
            return None
        raise_for_status(answer, self._token)
        return parse_json(answer.raw)

    def _send(
        self, method: str, path: str, params: dict[str, str] | None, body: dict[str, str] | None
    ) -> Answer:
        failure: ForgeError | None = None
        try:
            answer = self._exchange(method, self.target.api_base + path, params, body)
        except httpx.TimeoutException:
            failure = ForgeTransientError("the forge did not answer in time; try again later")
        except httpx.TransportError:
            failure = ForgeTransientError("could not reach the forge; try again later")
        except (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict):
            failure = ForgeError("the request to the forge could not be sent")
        if failure is not None:
            # Raised here, outside the except blocks, so no httpx exception (and its URL
            # or text) is chained to ours.
            logger.warning("forge %s %s %s failed: %s", self.target.kind, method, path, failure)
            raise failure
        logger.info("forge %s %s %s -> HTTP %s", self.target.kind, method, path, answer.status)
        return answer

    def _exchange(
        self, method: str, url: str, params: dict[str, str] | None, body: dict[str, str] | None
    ) -> Answer:
        deadline = time.monotonic() + self._timeout_s
        target, headers, extensions = pinned(httpx.URL(url), self.target.addresses)
        with self._client.stream(
            method, target, params=params, json=body, headers=headers, extensions=extensions
        ) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise ForgeError("the forge's answer was too large")
                if time.monotonic() > deadline:
                    raise ForgeTransientError("the forge answered too slowly; try again later")
                chunks.append(chunk)
            return Answer(response.status_code, response.headers, b"".join(chunks))


def pinned(
    url: httpx.URL, addresses: tuple[str, ...]
) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request aimed at the first checked address instead of the name (no second DNS
    lookup, so no rebinding: docs/security.md#s14), with the name kept as the Host header
    and as the TLS server name, which the certificate is verified against."""
    if not addresses:
        return url, {}, {}
    host = url.host
    netloc = host if url.port is None else f"{host}:{url.port}"
    extensions: dict[str, Any] = {"sni_hostname": host} if url.scheme == "https" else {}
    return url.copy_with(host=addresses[0]), {"Host": netloc}, extensions


def _auth_headers(kind: ForgeKind, token: str) -> dict[str, str]:
    if kind == "github":
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
    if kind == "gitlab":
        return {"PRIVATE-TOKEN": token, "Accept": "application/json"}
    return {"Authorization": f"token {token}", "Accept": "application/json"}


def raise_for_status(answer: Answer, token: str) -> None:
    status = answer.status
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise ForgeError(
            f"the forge answered with a redirect (HTTP {status}), which bmadweb does not "
            "follow: check the forge API URL",
            status=status,
        )
    if status == 429 or status >= 500 or status == 408 or _is_rate_limited(answer):
        raise ForgeTransientError(
            f"the forge is busy or rate-limiting (HTTP {status}); try again later",
            status=status,
            retry_after=_retry_after(answer.headers),
        )
    if status in (401, 403):
        raise ForgeError(AUTH_REFUSED, status=status)
    if status == 404:
        raise ForgeError(REPO_NOT_FOUND, status=status)
    detail = forge_detail(answer.raw, token)
    suffix = f": {detail}" if detail else ""
    raise ForgeError(f"the forge refused the request (HTTP {status}){suffix}", status=status)


def _is_rate_limited(answer: Answer) -> bool:
    # GitHub answers 403 (not 429) when the primary or secondary rate limit is hit.
    headers = answer.headers
    return answer.status == 403 and (
        headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers
    )


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after", "")
    if value.isdigit() and len(value) <= 6:
        return float(value)
    return None


def is_already_exists(answer: Answer) -> bool:
    # GitHub: 422 "A pull request already exists for o:b."; GitLab: 409 "Another open
    # merge request already exists ..."; Gitea: 409 "pull request already exists ...".
    return answer.status in (409, 422) and b"already exist" in answer.raw.lower()


def forge_detail(raw: bytes, token: str) -> str:
    """The forge's own error message, printable, short and without the token."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, list):
        message = "; ".join(str(item) for item in message)
    if not isinstance(message, str):
        return ""
    message = scrub_values(message.replace(token, "[token]"), [token])  # encoded echoes
    return _PRINTABLE_DETAIL.sub(" ", message).strip()[:200]


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ForgeError(UNEXPECTED_ANSWER) from None


def dicts(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise ForgeError(UNEXPECTED_ANSWER)
    return [item for item in data if isinstance(item, dict)]


def json_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ForgeError(UNEXPECTED_ANSWER)
    return data


def pages(
    conn: Connection, path: str, params: dict[str, str], size_param: str
) -> Iterator[list[dict[str, Any]]]:
    """The objects of a list call, page by page, until an empty page (at most MAX_PAGES)."""
    for page in range(1, MAX_PAGES + 1):
        paged = {**params, size_param: str(PAGE_SIZE), "page": str(page)}
        items = dicts(conn.json("GET", path, params=paged))
        if not items:
            return
        yield items


def item_number(item: dict[str, Any], field: str) -> int:
    number = item.get(field)
    if type(number) is not int or number <= 0:
        raise ForgeError(UNEXPECTED_ANSWER)
    return number


Finder = Callable[[Connection, Wanted], dict[str, Any] | None]


Updater = Callable[[Connection, dict[str, Any], Wanted], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ForgeApi:
    find: Finder
    create: Finder
    update: Updater
    list_open: Callable[[Connection, str], list[dict[str, Any]]]
    own_head: Callable[[ForgeRepo, dict[str, Any], str], str]
    comment: Callable[[Connection, int, str], None]
    close: Callable[[Connection, int], None]
    number_field: str
    url_field: str
    body_field: str
