"""Discovery: the repositories of an organisation or group, and which hold a BMAD install.

The install is probed through the forge's file API (no clone): a BMAD 6 install keeps
``_bmad/_config/manifest.yaml``, a v4 install ``.bmad-core/install-manifest.yaml``.
Same hardening as every forge call (:mod:`provisioning.forges.http`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from provisioning.forges.http import UNEXPECTED_ANSWER, Connection, pages
from provisioning.forges.repo_urls import ForgeError, ForgeOrg

# What each probe means, in the order tried.
BMAD_PROBES = (
    ("_bmad/_config/manifest.yaml", "v6"),
    (".bmad-core/install-manifest.yaml", "v4"),
)

MAX_REPOS = 500


@dataclass(frozen=True, slots=True)
class DiscoveredRepo:
    path: str  # owner/name (GitLab: group/…/name)
    clone_url: str
    default_branch: str
    archived: bool
    bmad: str = ""  # "v6", "v4", "" (none found) or "?" (the probe failed)


def _text(item: dict[str, Any], field: str) -> str:
    value = item.get(field)
    if not isinstance(value, str):
        raise ForgeError(UNEXPECTED_ANSWER)
    return value


def _repo(kind: str, item: dict[str, Any]) -> DiscoveredRepo:
    if kind == "gitlab":
        path, clone = _text(item, "path_with_namespace"), _text(item, "http_url_to_repo")
    else:
        path, clone = _text(item, "full_name"), _text(item, "clone_url")
    branch = item.get("default_branch")
    return DiscoveredRepo(
        path=path,
        clone_url=clone,
        default_branch=branch if isinstance(branch, str) and branch else "main",
        archived=item.get("archived") is True,
    )


def _list(conn: Connection, org: ForgeOrg) -> list[DiscoveredRepo]:
    if org.kind == "gitlab":
        path = f"/groups/{quote(org.owner_path, safe='')}/projects"
        params = {"include_subgroups": "true", "order_by": "path", "sort": "asc"}
        size_param = "per_page"
    else:
        path = f"/orgs/{quote(org.owner_path, safe='')}/repos"
        params = {}
        size_param = "per_page" if org.kind == "github" else "limit"
    found: list[DiscoveredRepo] = []
    for page in pages(conn, path, params, size_param):
        found.extend(_repo(org.kind, item) for item in page)
        if len(found) >= MAX_REPOS:
            break
    return found[:MAX_REPOS]


def _has_file(conn: Connection, org: ForgeOrg, repo: DiscoveredRepo, file: str) -> bool:
    if org.kind == "gitlab":
        path = f"/projects/{quote(repo.path, safe='')}/repository/files/{quote(file, safe='')}"
        params = {"ref": repo.default_branch}
    else:
        path = f"/repos/{repo.path}/contents/{quote(file)}"
        params = {"ref": repo.default_branch}
    try:
        conn.json("GET", path, params=params)
    except ForgeError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _probe(conn: Connection, org: ForgeOrg, repo: DiscoveredRepo) -> str:
    try:
        for file, generation in BMAD_PROBES:
            if _has_file(conn, org, repo, file):
                return generation
    except ForgeError:
        return "?"
    return ""


def discover_org(
    org: ForgeOrg,
    *,
    token: str,
    timeout_s: float = 20.0,
    probe: bool = True,
    transport: httpx.BaseTransport | None = None,
) -> list[DiscoveredRepo]:
    """The organisation's repositories (at most MAX_REPOS), each with its BMAD probe."""
    with Connection(org, token, timeout_s, transport) as conn:
        repos = _list(conn, org)
        if not probe:
            return repos
        return [
            DiscoveredRepo(
                path=r.path,
                clone_url=r.clone_url,
                default_branch=r.default_branch,
                archived=r.archived,
                bmad="" if r.archived else _probe(conn, org, r),
            )
            for r in repos
        ]
