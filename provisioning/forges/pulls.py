"""Pull and merge requests: open or update a run's request, close the ones it supersedes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from provisioning.forges.github import GITEA_API, GITHUB_API
from provisioning.forges.gitlab import GITLAB_API
from provisioning.forges.http import UNEXPECTED_ANSWER, Connection, ForgeApi, Wanted
from provisioning.forges.repo_urls import (
    CONTROL_OR_SPACE,
    ForgeError,
    ForgeKind,
    ForgeRepo,
)


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
    wanted = Wanted(head_branch, base_branch, title, body)
    with Connection(repo, token, timeout_s, transport) as conn:
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


def _pull_request(api: ForgeApi, item: dict[str, Any], *, created: bool) -> PullRequest:
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
    with Connection(repo, token, timeout_s, transport) as conn:
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


# --- the three APIs -----------------------------------------------------------------------


_APIS: dict[ForgeKind, ForgeApi] = {"github": GITHUB_API, "gitea": GITEA_API, "gitlab": GITLAB_API}
