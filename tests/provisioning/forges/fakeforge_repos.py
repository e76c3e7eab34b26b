"""Discovery routes of the fake forge: organisation/group repository lists and file probes.

* github, gitea: ``GET /orgs/{org}/repos`` (paged) and
  ``GET /repos/{owner}/{repo}/contents/{path}``;
* gitlab: ``GET /groups/{url-encoded path}/projects`` (subgroups included, paged) and
  ``GET /projects/{url-encoded path}/repository/files/{url-encoded file}``.

Repositories are added with :meth:`FakeForge.add_repo` and kept in ``FakeForge.repos``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

_ORG_REPOS = re.compile(r"/orgs/([^/]+)/repos")
_CONTENTS = re.compile(r"/repos/([^/]+)/([^/]+)/contents/(.+)")
_GROUP_PROJECTS = re.compile(r"/groups/([^/]+)/projects")
_FILES = re.compile(r"/projects/([^/]+)/repository/files/([^/]+)")


@dataclass
class FakeRepo:
    kind: str
    path: str
    files: set[str] = field(default_factory=set)
    default_branch: str = "main"
    archived: bool = False


def route_repos(forge: Any, kind: str, method: str, path: str, query: dict[str, str]) -> Any:
    """(status, payload) for a discovery route, or None when the path is not one."""
    if method != "GET":
        return None
    repos = [r for r in forge.repos if r.kind == kind]
    if kind == "gitlab":
        if (match := _GROUP_PROJECTS.fullmatch(path)) is not None:
            group = unquote(match[1])
            inside = [r for r in repos if r.path.startswith(group + "/")]
            return 200, [_gitlab_json(forge, r) for r in _page(inside, query, "per_page")]
        if (match := _FILES.fullmatch(path)) is not None:
            return _file(repos, unquote(match[1]), unquote(match[2]))
        return None
    if (match := _ORG_REPOS.fullmatch(path)) is not None:
        inside = [r for r in repos if r.path.split("/")[0] == match[1]]
        size = "per_page" if kind == "github" else "limit"
        return 200, [_repo_json(forge, r) for r in _page(inside, query, size)]
    if (match := _CONTENTS.fullmatch(path)) is not None:
        return _file(repos, f"{match[1]}/{match[2]}", unquote(match[3]))
    return None


def _page(repos: list[FakeRepo], query: dict[str, str], size_param: str) -> list[FakeRepo]:
    size = min(int(query.get(size_param, "30")), 100)
    start = (int(query.get("page", "1")) - 1) * size
    return repos[start : start + size]


def _file(repos: list[FakeRepo], repo_path: str, file: str) -> tuple[int, Any]:
    for repo in repos:
        if repo.path == repo_path and file in repo.files:
            return 200, {"type": "file", "path": file}
    return 404, {"message": "Not Found"}


def _repo_json(forge: Any, repo: FakeRepo) -> dict[str, Any]:
    return {
        "full_name": repo.path,
        "clone_url": f"{forge.clone_base}/{repo.path}.git",
        "default_branch": repo.default_branch,
        "archived": repo.archived,
    }


def _gitlab_json(forge: Any, repo: FakeRepo) -> dict[str, Any]:
    return {
        "path_with_namespace": repo.path,
        "http_url_to_repo": f"{forge.clone_base}/{repo.path}.git",
        "default_branch": repo.default_branch,
        "archived": repo.archived,
    }
