"""The only door to forge APIs: open or update a pull/merge request on GitHub, GitLab or Gitea.

This is the one module that imports :mod:`httpx` (STYLE.md point 4). It knows nothing of
Django: the repository, the token and the time budget arrive as arguments.

Defences, because forge answers and URLs come from outside:

* redirects are never followed (SSRF), proxies, ``.netrc`` and other environment settings
  are ignored, and the default API base is derived from a repository URL whose owner path
  uses only ``[A-Za-z0-9._-]`` parts (no ``..``, no empty parts);
* answers are read through a 1 MiB cap and parsed defensively: anything unexpected becomes
  ``ForgeError("unexpected answer from the forge")``;
* every httpx exception is replaced by one of ours with a sentence composed here, raised
  outside the ``except`` block so no chained exception carries httpx's text; the token is
  scrubbed from any forge message we quote and never logged.

Callers retry on :class:`ForgeTransientError` (429, 5xx, timeouts, connection errors) and
show the message of any other :class:`ForgeError` to the user as is.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import SplitResult, quote, urlsplit

import httpx

logger = logging.getLogger(__name__)

ForgeKind = Literal["github", "gitlab", "gitea"]
FORGE_KINDS: tuple[ForgeKind, ...] = ("github", "gitlab", "gitea")

USER_AGENT = "bmadweb"
MAX_ANSWER_BYTES = 1024 * 1024
MAX_URL_LENGTH = 1024
GITEA_PAGE_SIZE = 50
GITEA_MAX_PAGES = 20

AUTH_REFUSED = "the forge token was refused: check it has pull-request scope"
REPO_NOT_FOUND = "repository not found on the forge, or the token cannot see it"
UNEXPECTED_ANSWER = "unexpected answer from the forge"

_PART = re.compile(r"[A-Za-z0-9._-]+")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_SCP_LIKE = re.compile(r"(?:[A-Za-z0-9._-]+@)?([^/:@]+):(.+)")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_PRINTABLE_DETAIL = re.compile(r"[^\x20-\x7e]+")


class ForgeError(Exception):
    """The forge call failed; ``message`` is a plain sentence that can be shown as is."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ForgeTransientError(ForgeError):
    """A failure worth retrying later (rate limit, forge down, timeout, network)."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ForgeRepo:
    """A repository on a forge: its API base (no trailing slash) and owner path."""

    kind: ForgeKind
    api_base: str
    owner_path: str

    def __post_init__(self) -> None:
        _checked_kind(self.kind)
        _check_owner_path(self.kind, self.owner_path)
        _check_api_url(self.api_base)


@dataclass(frozen=True, slots=True)
class PullRequest:
    """An open pull/merge request: its web page, its number (GitLab: iid), whether new."""

    url: str
    number: int
    created: bool


# --- repository URLs ----------------------------------------------------------------------


def forge_repo_from_url(repo_url: str, kind: str, api_url: str = "") -> ForgeRepo:
    """Derive the forge repository from a clone URL (https, ``ssh://`` or scp-like ssh).

    ``api_url`` overrides the default API base (self-hosted forges, tests).
    """
    forge_kind = _checked_kind(kind)
    host, netloc, path = _split_repo_url(repo_url)
    owner_path = _owner_path_from(path)
    _check_owner_path(forge_kind, owner_path)
    if api_url:
        _check_api_url(api_url)
        api_base = api_url.rstrip("/")
    else:
        api_base = _default_api_base(forge_kind, host, netloc)
    return ForgeRepo(kind=forge_kind, api_base=api_base, owner_path=owner_path)


def _checked_kind(kind: str) -> ForgeKind:
    if kind not in FORGE_KINDS:
        raise ForgeError(f"unknown forge kind: choose one of {', '.join(FORGE_KINDS)}")
    return cast(ForgeKind, kind)


def _split_repo_url(repo_url: str) -> tuple[str, str, str]:
    """Return (host, https netloc for the API, path) of a repository URL."""
    if not repo_url or len(repo_url) > MAX_URL_LENGTH or _CONTROL_OR_SPACE.search(repo_url):
        raise ForgeError("the repository URL is empty, too long or contains spaces")
    if "://" not in repo_url:
        match = _SCP_LIKE.fullmatch(repo_url)
        if match is None:
            raise ForgeError("the repository URL is not an https or ssh URL")
        return _checked_host(match[1]), match[1].lower(), match[2]
    parts = _parsed(repo_url)
    if parts.scheme not in ("https", "ssh"):
        raise ForgeError("the repository URL must use https or ssh")
    if parts.password is not None or (parts.scheme == "https" and parts.username is not None):
        raise ForgeError("the repository URL must not contain credentials")
    host = _checked_host(parts.hostname or "")
    port = parts.port if parts.scheme == "https" else None
    netloc = host if port in (None, 443) else f"{host}:{port}"
    return host, netloc, parts.path


def _parsed(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise ForgeError("the URL could not be parsed") from None
    if parts.query or parts.fragment:
        raise ForgeError("the URL must not have a query or a fragment")
    return parts


def _checked_host(host: str) -> str:
    if not _HOST.fullmatch(host) or ".." in host:
        raise ForgeError("the repository URL has no valid host name")
    return host.lower()


def _owner_path_from(path: str) -> str:
    owner_path = path.strip("/")
    return owner_path.removesuffix(".git")


def _check_owner_path(kind: ForgeKind, owner_path: str) -> None:
    parts = owner_path.split("/")
    for part in parts:
        if part in ("", ".", "..") or not _PART.fullmatch(part):
            raise ForgeError(
                "the repository path must be made of names using only letters, digits, "
                "'.', '_' and '-' (no '..', no empty parts)"
            )
    if kind == "gitlab" and len(parts) < 2:
        raise ForgeError("a GitLab repository path needs a group and a project name")
    if kind != "gitlab" and len(parts) != 2:
        raise ForgeError(f"a {kind} repository path must be exactly owner/repository")


def _check_api_url(api_url: str) -> None:
    if len(api_url) > MAX_URL_LENGTH or _CONTROL_OR_SPACE.search(api_url):
        raise ForgeError("the forge API URL is too long or contains spaces")
    parts = _parsed(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ForgeError("the forge API URL must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ForgeError("the forge API URL must not contain credentials")


def _default_api_base(kind: ForgeKind, host: str, netloc: str) -> str:
    if kind == "github":
        if host in ("github.com", "www.github.com"):
            return "https://api.github.com"
        return f"https://{netloc}/api/v3"  # GitHub Enterprise Server
    return f"https://{netloc}/api/v4" if kind == "gitlab" else f"https://{netloc}/api/v1"


# --- pull requests ------------------------------------------------------------------------


def open_or_update_pull_request(
    repo: ForgeRepo,
    *,
    token: str,
    head_branch: str,
    base_branch: str,
    title: str,
    body: str,
    timeout_s: float = 15.0,
    transport: httpx.BaseTransport | None = None,
) -> PullRequest:
    """Open a pull/merge request from ``head_branch`` to ``base_branch``, or update the open one.

    Idempotent: a second call finds the open request and updates its title and body (no
    write at all when they are unchanged). ``timeout_s`` is the budget of each request.
    """
    _check_request_inputs(token, head_branch, base_branch)
    api = _APIS[repo.kind]
    wanted = _Wanted(head_branch, base_branch, title, body)
    with _Connection(repo, token, timeout_s, transport) as conn:
        existing = api.find(conn, wanted)
        if existing is None:
            created = api.create(conn, wanted)
            if created is not None:
                return _pull_request(api, created, created=True)
            # Someone opened it between our look-up and our create: use theirs.
            existing = api.find(conn, wanted)
            if existing is None:
                raise ForgeError("the forge says the pull request exists but does not list it")
        if existing.get("title") == title and existing.get(api.body_field) == body:
            return _pull_request(api, existing, created=False)
        return _pull_request(api, api.update(conn, existing, wanted), created=False)


def _check_request_inputs(token: str, *branches: str) -> None:
    if not token or _CONTROL_OR_SPACE.search(token):
        raise ForgeError("the forge token is empty or malformed")
    for branch in branches:
        if not branch or len(branch) > 255 or _CONTROL_OR_SPACE.search(branch):
            raise ForgeError("a branch name is empty, too long or contains spaces")


@dataclass(frozen=True, slots=True)
class _Wanted:
    head: str
    base: str
    title: str
    body: str


def _pull_request(api: _ForgeApi, item: dict[str, Any], *, created: bool) -> PullRequest:
    number, url = item.get(api.number_field), item.get(api.url_field)
    if type(number) is not int or not isinstance(url, str):
        raise ForgeError(UNEXPECTED_ANSWER)
    if not url.startswith(("https://", "http://")) or _CONTROL_OR_SPACE.search(url):
        raise ForgeError(UNEXPECTED_ANSWER)
    return PullRequest(url=url, number=number, created=created)


# --- HTTP ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: httpx.Headers
    raw: bytes


class _Connection:
    """One httpx client for one forge call, with error mapping and token scrubbing."""

    def __init__(
        self,
        repo: ForgeRepo,
        token: str,
        timeout_s: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.repo = repo
        self._token = token
        self._timeout_s = timeout_s
        self._client = httpx.Client(
            headers={**_auth_headers(repo.kind, token), "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,  # no proxies or .netrc credentials from the environment
            transport=transport,
        )

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"<_Connection {self.repo.kind} {self.repo.owner_path}>"

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
        if conflict_ok and _is_already_exists(answer):
            return None
        _raise_for_status(answer, self._token)
        return _parse_json(answer.raw)

    def _send(
        self, method: str, path: str, params: dict[str, str] | None, body: dict[str, str] | None
    ) -> _Answer:
        failure: ForgeError | None = None
        try:
            answer = self._exchange(method, self.repo.api_base + path, params, body)
        except httpx.TimeoutException:
            failure = ForgeTransientError("the forge did not answer in time; try again later")
        except httpx.TransportError:
            failure = ForgeTransientError("could not reach the forge; try again later")
        except (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict):
            failure = ForgeError("the request to the forge could not be sent")
        if failure is not None:
            # Raised here, outside the except blocks, so no httpx exception (and its URL
            # or text) is chained to ours.
            logger.warning("forge %s %s %s failed: %s", self.repo.kind, method, path, failure)
            raise failure
        logger.info("forge %s %s %s -> HTTP %s", self.repo.kind, method, path, answer.status)
        return answer

    def _exchange(
        self, method: str, url: str, params: dict[str, str] | None, body: dict[str, str] | None
    ) -> _Answer:
        deadline = time.monotonic() + self._timeout_s
        with self._client.stream(method, url, params=params, json=body) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise ForgeError("the forge's answer was too large")
                if time.monotonic() > deadline:
                    raise ForgeTransientError("the forge answered too slowly; try again later")
                chunks.append(chunk)
            return _Answer(response.status_code, response.headers, b"".join(chunks))


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


def _raise_for_status(answer: _Answer, token: str) -> None:
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
    detail = _forge_detail(answer.raw, token)
    suffix = f": {detail}" if detail else ""
    raise ForgeError(f"the forge refused the request (HTTP {status}){suffix}", status=status)


def _is_rate_limited(answer: _Answer) -> bool:
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


def _is_already_exists(answer: _Answer) -> bool:
    # GitHub: 422 "A pull request already exists for o:b."; GitLab: 409 "Another open
    # merge request already exists ..."; Gitea: 409 "pull request already exists ...".
    return answer.status in (409, 422) and b"already exist" in answer.raw.lower()


def _forge_detail(raw: bytes, token: str) -> str:
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
    return _PRINTABLE_DETAIL.sub(" ", message.replace(token, "[token]")).strip()[:200]


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ForgeError(UNEXPECTED_ANSWER) from None


def _dicts(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise ForgeError(UNEXPECTED_ANSWER)
    return [item for item in data if isinstance(item, dict)]


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ForgeError(UNEXPECTED_ANSWER)
    return data


def _ref(item: dict[str, Any], side: str, key: str) -> Any:
    value = item.get(side)
    return value.get(key) if isinstance(value, dict) else None


# --- the three APIs -----------------------------------------------------------------------


def _repo_path(repo: ForgeRepo) -> str:
    return f"/repos/{repo.owner_path}/pulls"


def _same_repo_pull(repo: ForgeRepo, item: dict[str, Any], wanted: _Wanted) -> bool:
    """GitHub/Gitea pull from ``wanted.head`` of this repository (not a fork) to base."""
    head_repo = _ref(item, "head", "repo")
    full_name = head_repo.get("full_name") if isinstance(head_repo, dict) else None
    same_repo = full_name is None or str(full_name).lower() == repo.owner_path.lower()
    return (
        item.get("state") == "open"
        and _ref(item, "head", "ref") == wanted.head
        and _ref(item, "base", "ref") == wanted.base
        and same_repo
    )


def _github_find(conn: _Connection, wanted: _Wanted) -> dict[str, Any] | None:
    owner = conn.repo.owner_path.split("/")[0]
    params = {"head": f"{owner}:{wanted.head}", "base": wanted.base, "state": "open"}
    items = _dicts(conn.json("GET", _repo_path(conn.repo), params=params))
    return next((i for i in items if _same_repo_pull(conn.repo, i, wanted)), None)


def _gitea_find(conn: _Connection, wanted: _Wanted) -> dict[str, Any] | None:
    # Gitea's list cannot filter by branch: walk the open pulls page by page.
    for page in range(1, GITEA_MAX_PAGES + 1):
        params = {"state": "open", "limit": str(GITEA_PAGE_SIZE), "page": str(page)}
        items = _dicts(conn.json("GET", _repo_path(conn.repo), params=params))
        if not items:
            return None
        found = next((i for i in items if _same_repo_pull(conn.repo, i, wanted)), None)
        if found is not None:
            return found
    return None


def _pulls_create(conn: _Connection, wanted: _Wanted) -> dict[str, Any] | None:
    """GitHub and Gitea share the shape of the create call."""
    body = {"title": wanted.title, "head": wanted.head, "base": wanted.base, "body": wanted.body}
    data = conn.json("POST", _repo_path(conn.repo), body=body, conflict_ok=True)
    return None if data is None else _object(data)


def _pulls_update(conn: _Connection, item: dict[str, Any], wanted: _Wanted) -> dict[str, Any]:
    path = f"{_repo_path(conn.repo)}/{_number(item, 'number')}"
    return _object(conn.json("PATCH", path, body={"title": wanted.title, "body": wanted.body}))


def _gitlab_path(repo: ForgeRepo) -> str:
    return f"/projects/{quote(repo.owner_path, safe='')}/merge_requests"


def _gitlab_find(conn: _Connection, wanted: _Wanted) -> dict[str, Any] | None:
    params = {"source_branch": wanted.head, "target_branch": wanted.base, "state": "opened"}
    items = _dicts(conn.json("GET", _gitlab_path(conn.repo), params=params))
    return next((i for i in items if _gitlab_matches(i, wanted)), None)


def _gitlab_matches(item: dict[str, Any], wanted: _Wanted) -> bool:
    source, target = item.get("source_project_id"), item.get("target_project_id")
    return (
        item.get("state") == "opened"
        and item.get("source_branch") == wanted.head
        and item.get("target_branch") == wanted.base
        and (source is None or source == target)  # not a merge request from a fork
    )


def _gitlab_create(conn: _Connection, wanted: _Wanted) -> dict[str, Any] | None:
    body = {
        "source_branch": wanted.head,
        "target_branch": wanted.base,
        "title": wanted.title,
        "description": wanted.body,
    }
    data = conn.json("POST", _gitlab_path(conn.repo), body=body, conflict_ok=True)
    return None if data is None else _object(data)


def _gitlab_update(conn: _Connection, item: dict[str, Any], wanted: _Wanted) -> dict[str, Any]:
    path = f"{_gitlab_path(conn.repo)}/{_number(item, 'iid')}"
    body = {"title": wanted.title, "description": wanted.body}
    return _object(conn.json("PUT", path, body=body))


def _number(item: dict[str, Any], field: str) -> int:
    number = item.get(field)
    if type(number) is not int or number <= 0:
        raise ForgeError(UNEXPECTED_ANSWER)
    return number


_Finder = Callable[[_Connection, _Wanted], dict[str, Any] | None]
_Updater = Callable[[_Connection, dict[str, Any], _Wanted], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _ForgeApi:
    find: _Finder
    create: _Finder
    update: _Updater
    number_field: str
    url_field: str
    body_field: str


_APIS: dict[ForgeKind, _ForgeApi] = {
    "github": _ForgeApi(_github_find, _pulls_create, _pulls_update, "number", "html_url", "body"),
    "gitlab": _ForgeApi(
        _gitlab_find, _gitlab_create, _gitlab_update, "iid", "web_url", "description"
    ),
    "gitea": _ForgeApi(_gitea_find, _pulls_create, _pulls_update, "number", "html_url", "body"),
}
