"""GitLab merge requests."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from provisioning.forges.http import (
    Connection,
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


def _gitlab_path(repo: ForgeRepo) -> str:
    return f"/projects/{quote(repo.owner_path, safe='')}/merge_requests"


def _gitlab_find(conn: Connection, wanted: Wanted) -> dict[str, Any] | None:
    params = {"source_branch": wanted.head, "target_branch": wanted.base, "state": "opened"}
    items = dicts(conn.json("GET", _gitlab_path(conn.repo), params=params))
    return next((i for i in items if _gitlab_matches(i, wanted)), None)


def _gitlab_matches(item: dict[str, Any], wanted: Wanted) -> bool:
    source, target = item.get("source_project_id"), item.get("target_project_id")
    return (
        item.get("state") == "opened"
        and item.get("source_branch") == wanted.head
        and item.get("target_branch") == wanted.base
        and (source is None or source == target)  # not a merge request from a fork
    )


def _gitlab_create(conn: Connection, wanted: Wanted) -> dict[str, Any] | None:
    body = {
        "source_branch": wanted.head,
        "target_branch": wanted.base,
        "title": wanted.title,
        "description": wanted.body,
    }
    data = conn.json("POST", _gitlab_path(conn.repo), body=body, conflict_ok=True)
    return None if data is None else json_object(data)


def _gitlab_update(conn: Connection, item: dict[str, Any], wanted: Wanted) -> dict[str, Any]:
    path = f"{_gitlab_path(conn.repo)}/{item_number(item, 'iid')}"
    body = {"title": wanted.title, "description": wanted.body}
    return json_object(conn.json("PUT", path, body=body))


def _gitlab_list_open(conn: Connection, base: str) -> list[dict[str, Any]]:
    params = {"state": "opened", "target_branch": base}
    return [i for items in pages(conn, _gitlab_path(conn.repo), params, "per_page") for i in items]


def _gitlab_own_head(repo: ForgeRepo, item: dict[str, Any], base: str) -> str:
    """The source branch of an opened merge request of this project to ``base``, or ""."""
    source, target = item.get("source_project_id"), item.get("target_project_id")
    if item.get("state") != "opened" or item.get("target_branch") != base:
        return ""
    if type(source) is not int or source != target:  # a fork's, or an unknown source
        return ""
    head = item.get("source_branch")
    return head if isinstance(head, str) else ""


def _gitlab_comment(conn: Connection, iid: int, text: str) -> None:
    path = f"{_gitlab_path(conn.repo)}/{iid}/notes"
    json_object(conn.json("POST", path, body={"body": text}))


def _gitlab_close(conn: Connection, iid: int) -> None:
    path = f"{_gitlab_path(conn.repo)}/{iid}"
    json_object(conn.json("PUT", path, body={"state_event": "close"}))


GITLAB_API = ForgeApi(
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
)
