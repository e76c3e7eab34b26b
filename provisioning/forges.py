"""The only door to forge APIs: pull/merge requests on GitHub, GitLab and Gitea.

Open or update the request of a run's branch, and close the older requests it supersedes
(with a comment pointing to the new one; their branches are left alone).

This is the one module that imports :mod:`httpx` (STYLE.md point 4). It knows nothing of
Django: the repository, the token and the time budget arrive as arguments.

Defences, because forge answers and URLs come from outside:

* redirects are never followed (SSRF), proxies, ``.netrc`` and other environment settings
  are ignored, and the default API base is derived from a repository URL whose owner path
  uses only ``[A-Za-z0-9._-]`` parts (no ``..``, no empty parts; see
  :mod:`provisioning.forge_urls`, re-exported here);
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from provisioning.forge_urls import (
    CONTROL_OR_SPACE,
    FORGE_KINDS,
    ForgeError,
    ForgeKind,
    ForgeRepo,
    forge_repo_from_url,
)

__all__ = [
    "AUTH_REFUSED",
    "FORGE_KINDS",
    "REPO_NOT_FOUND",
    "UNEXPECTED_ANSWER",
    "ForgeError",
    "ForgeKind",
    "ForgeRepo",
    "ForgeTransientError",
    "PullRequest",
    "close_superseded_pull_requests",
    "forge_repo_from_url",
    "open_or_update_pull_request",
]

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
class PullRequest:
    """A pull/merge request: its web page, its number (GitLab: iid), whether new."""

    url: str
    number: int
    created: bool


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
    if not token or CONTROL_OR_SPACE.search(token):
        raise ForgeError("the forge token is empty or malformed")
    for branch in branches:
        if not branch or len(branch) > 255 or CONTROL_OR_SPACE.search(branch):
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
    if not url.startswith(("https://", "http://")) or CONTROL_OR_SPACE.search(url):
        raise ForgeError(UNEXPECTED_ANSWER)
    return PullRequest(url=url, number=number, created=created)


def close_superseded_pull_requests(
    repo: ForgeRepo,
    *,
    token: str,
    branch_prefix: str,
    keep_branch: str,
    base_branch: str,
    comment: str,
    timeout_s: float = 15.0,
    transport: httpx.BaseTransport | None = None,
) -> list[PullRequest]:
    """Comment on and close the open requests this repository's ``branch_prefix`` branches
    opened to ``base_branch``, except ``keep_branch``'s; return the closed ones.

    Requests from forks are never touched, branches are never deleted. All open requests
    are listed before the first is closed (closing shifts the pages). The first failure
    stops and raises; the requests closed before it stay closed.
    """
    _check_request_inputs(token, branch_prefix, keep_branch, base_branch)
    if not branch_prefix.endswith("/"):
        raise ForgeError("the branch prefix must end with '/' (a folder of branches)")
    if not comment.strip():
        raise ForgeError("the closing comment is empty")
    api = _APIS[repo.kind]
    with _Connection(repo, token, timeout_s, transport) as conn:
        superseded: dict[int, PullRequest] = {}
        for item in api.list_open(conn, base_branch):
            head = api.own_head(repo, item, base_branch)
            if head.startswith(branch_prefix) and head != keep_branch:
                pull = _pull_request(api, item, created=False)
                superseded.setdefault(pull.number, pull)  # pages may overlap as pulls move
        for pull in superseded.values():
            api.comment(conn, pull.number, comment)
            api.close(conn, pull.number)
        return list(superseded.values())


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
    for items in _pages(conn, _repo_path(conn.repo), {"state": "open"}, "limit"):
        found = next((i for i in items if _same_repo_pull(conn.repo, i, wanted)), None)
        if found is not None:
            return found
    return None


def _pages(
    conn: _Connection, path: str, params: dict[str, str], size_param: str
) -> Iterator[list[dict[str, Any]]]:
    """The objects of a list call, page by page, until an empty page (at most MAX_PAGES)."""
    for page in range(1, MAX_PAGES + 1):
        paged = {**params, size_param: str(PAGE_SIZE), "page": str(page)}
        items = _dicts(conn.json("GET", path, params=paged))
        if not items:
            return
        yield items


def _pulls_list_open(conn: _Connection, base: str) -> list[dict[str, Any]]:
    """GitHub filters by base itself; Gitea cannot (the caller checks the base)."""
    if conn.repo.kind == "github":
        params, size_param = {"state": "open", "base": base}, "per_page"
    else:
        params, size_param = {"state": "open"}, "limit"
    return [i for items in _pages(conn, _repo_path(conn.repo), params, size_param) for i in items]


def _pulls_own_head(repo: ForgeRepo, item: dict[str, Any], base: str) -> str:
    """The head branch of an open GitHub/Gitea pull from this repository to ``base``, or ""."""
    head_repo = _ref(item, "head", "repo")
    full_name = head_repo.get("full_name") if isinstance(head_repo, dict) else None
    head = _ref(item, "head", "ref")
    if item.get("state") != "open" or _ref(item, "base", "ref") != base:
        return ""
    # Strict here (unlike _same_repo_pull): a pull whose head repository is unknown, such
    # as a deleted fork's, is not ours to close.
    if not isinstance(full_name, str) or full_name.lower() != repo.owner_path.lower():
        return ""
    return head if isinstance(head, str) else ""


def _issues_comment(conn: _Connection, number: int, text: str) -> None:
    """GitHub and Gitea comment on a pull request through its issue."""
    path = f"/repos/{conn.repo.owner_path}/issues/{number}/comments"
    _object(conn.json("POST", path, body={"body": text}))


def _pulls_close(conn: _Connection, number: int) -> None:
    path = f"{_repo_path(conn.repo)}/{number}"
    _object(conn.json("PATCH", path, body={"state": "closed"}))


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


def _gitlab_list_open(conn: _Connection, base: str) -> list[dict[str, Any]]:
    params = {"state": "opened", "target_branch": base}
    return [i for items in _pages(conn, _gitlab_path(conn.repo), params, "per_page") for i in items]


def _gitlab_own_head(repo: ForgeRepo, item: dict[str, Any], base: str) -> str:
    """The source branch of an opened merge request of this project to ``base``, or ""."""
    source, target = item.get("source_project_id"), item.get("target_project_id")
    if item.get("state") != "opened" or item.get("target_branch") != base:
        return ""
    if type(source) is not int or source != target:  # a fork's, or an unknown source
        return ""
    head = item.get("source_branch")
    return head if isinstance(head, str) else ""


def _gitlab_comment(conn: _Connection, iid: int, text: str) -> None:
    path = f"{_gitlab_path(conn.repo)}/{iid}/notes"
    _object(conn.json("POST", path, body={"body": text}))


def _gitlab_close(conn: _Connection, iid: int) -> None:
    path = f"{_gitlab_path(conn.repo)}/{iid}"
    _object(conn.json("PUT", path, body={"state_event": "close"}))


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
    list_open: Callable[[_Connection, str], list[dict[str, Any]]]
    own_head: Callable[[ForgeRepo, dict[str, Any], str], str]
    comment: Callable[[_Connection, int, str], None]
    close: Callable[[_Connection, int], None]
    number_field: str
    url_field: str
    body_field: str


def _pulls_api(find: _Finder) -> _ForgeApi:
    """GitHub and Gitea share every call but the look-up."""
    return _ForgeApi(
        find=find,
        create=_pulls_create,
        update=_pulls_update,
        list_open=_pulls_list_open,
        own_head=_pulls_own_head,
        comment=_issues_comment,
        close=_pulls_close,
        number_field="number",
        url_field="html_url",
        body_field="body",
    )


_APIS: dict[ForgeKind, _ForgeApi] = {
    "github": _pulls_api(_github_find),
    "gitea": _pulls_api(_gitea_find),
    "gitlab": _ForgeApi(
        find=_gitlab_find,
        create=_gitlab_create,
        update=_gitlab_update,
        list_open=_gitlab_list_open,
        own_head=_gitlab_own_head,
        comment=_gitlab_comment,
        close=_gitlab_close,
        number_field="iid",
        url_field="web_url",
        body_field="description",
    ),
}
