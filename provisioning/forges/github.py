"""GitHub and Gitea pull requests: the two share every call but the look-up of an
existing request."""

from __future__ import annotations

from typing import Any

from provisioning.forges.http import (
    Connection,
    Finder,
    ForgeApi,
    Wanted,
    dicts,
    item_number,
    json_object,
    pages,
)
from provisioning.forges.repo_urls import (
    ForgeRepo,
)


def _ref(item: dict[str, Any], side: str, key: str) -> Any:
    value = item.get(side)
    return value.get(key) if isinstance(value, dict) else None


def _repo_path(repo: ForgeRepo) -> str:
    return f"/repos/{repo.owner_path}/pulls"


def _same_repo_pull(repo: ForgeRepo, item: dict[str, Any], wanted: Wanted) -> bool:
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


def _github_find(conn: Connection, wanted: Wanted) -> dict[str, Any] | None:
    owner = conn.repo.owner_path.split("/")[0]
    params = {"head": f"{owner}:{wanted.head}", "base": wanted.base, "state": "open"}
    items = dicts(conn.json("GET", _repo_path(conn.repo), params=params))
    return next((i for i in items if _same_repo_pull(conn.repo, i, wanted)), None)


def _gitea_find(conn: Connection, wanted: Wanted) -> dict[str, Any] | None:
    # Gitea's list cannot filter by branch: walk the open pulls page by page.
    for items in pages(conn, _repo_path(conn.repo), {"state": "open"}, "limit"):
        found = next((i for i in items if _same_repo_pull(conn.repo, i, wanted)), None)
        if found is not None:
            return found
    return None


def _pulls_list_open(conn: Connection, base: str) -> list[dict[str, Any]]:
    """GitHub filters by base itself; Gitea cannot (the caller checks the base)."""
    if conn.repo.kind == "github":
        params, size_param = {"state": "open", "base": base}, "per_page"
    else:
        params, size_param = {"state": "open"}, "limit"
    return [i for items in pages(conn, _repo_path(conn.repo), params, size_param) for i in items]


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


def _issues_comment(conn: Connection, number: int, text: str) -> None:
    """GitHub and Gitea comment on a pull request through its issue."""
    path = f"/repos/{conn.repo.owner_path}/issues/{number}/comments"
    json_object(conn.json("POST", path, body={"body": text}))


def _pulls_close(conn: Connection, number: int) -> None:
    path = f"{_repo_path(conn.repo)}/{number}"
    json_object(conn.json("PATCH", path, body={"state": "closed"}))


def _pulls_create(conn: Connection, wanted: Wanted) -> dict[str, Any] | None:
    """GitHub and Gitea share the shape of the create call."""
    body = {"title": wanted.title, "head": wanted.head, "base": wanted.base, "body": wanted.body}
    data = conn.json("POST", _repo_path(conn.repo), body=body, conflict_ok=True)
    return None if data is None else json_object(data)


def _pulls_update(conn: Connection, item: dict[str, Any], wanted: Wanted) -> dict[str, Any]:
    path = f"{_repo_path(conn.repo)}/{item_number(item, 'number')}"
    return json_object(conn.json("PATCH", path, body={"title": wanted.title, "body": wanted.body}))


def _pulls_api(find: Finder) -> ForgeApi:
    """GitHub and Gitea share every call but the look-up."""
    return ForgeApi(
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


GITHUB_API = _pulls_api(_github_find)
GITEA_API = _pulls_api(_gitea_find)
