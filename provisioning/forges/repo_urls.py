"""Forge repositories: which forge, its API base and the owner path, derived from a clone URL.

Plain parsing, no network and no Django (the HTTP calls live in :mod:`provisioning.forges`,
which re-exports everything public here). The owner path uses only ``[A-Za-z0-9._-]`` parts
(no ``..``, no empty parts), URLs carry no credentials, and only https or ssh clone URLs
give a default API base; anything else is a :class:`ForgeError` with a plain sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import SplitResult, urlsplit

ForgeKind = Literal["github", "gitlab", "gitea"]
FORGE_KINDS: tuple[ForgeKind, ...] = ("github", "gitlab", "gitea")

MAX_URL_LENGTH = 1024
CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")

_PART = re.compile(r"[A-Za-z0-9._-]+")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_SCP_LIKE = re.compile(r"(?:[A-Za-z0-9._-]+@)?([^/:@]+):(.+)")


class ForgeError(Exception):
    """The forge call failed; ``message`` is a plain sentence that can be shown as is."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class ForgeRepo:
    """A repository on a forge: its API base (no trailing slash) and owner path."""

    kind: ForgeKind
    api_base: str
    owner_path: str
    # The addresses the API host passed the address policy with: connections go there
    # only (the name is still sent as Host and TLS server name). Empty: resolved by the
    # system at connect time, which only a loopback forge in development may do.
    addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _checked_kind(self.kind)
        _check_owner_path(self.kind, self.owner_path)
        _check_api_url(self.api_base)


@dataclass(frozen=True, slots=True)
class ForgeOrg:
    """An organisation (GitHub, Gitea) or group (GitLab, subgroups allowed) on a forge."""

    kind: ForgeKind
    api_base: str
    owner_path: str
    # As ForgeRepo.addresses: the API host's checked addresses, connections go there only.
    addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _checked_kind(self.kind)
        parts = self.owner_path.split("/")
        if any(p in ("", ".", "..") or not _PART.fullmatch(p) for p in parts):
            raise ForgeError(
                "the organisation or group must be made of names using only letters, "
                "digits, '.', '_' and '-'"
            )
        if self.kind != "gitlab" and len(parts) != 1:
            raise ForgeError(f"a {self.kind} organisation is one name, e.g. /acme")
        _check_api_url(self.api_base)


def forge_org_from_url(org_url: str, kind: str, api_url: str = "") -> ForgeOrg:
    """The organisation or group behind ``https://host/org`` (``api_url`` overrides the
    default API base, as for repositories)."""
    forge_kind = _checked_kind(kind)
    host, netloc, path = _split_repo_url(org_url)
    if api_url:
        _check_api_url(api_url)
        api_base = api_url.rstrip("/")
    else:
        api_base = _default_api_base(forge_kind, host, netloc)
    return ForgeOrg(kind=forge_kind, api_base=api_base, owner_path=path.strip("/"))


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
    if not repo_url or len(repo_url) > MAX_URL_LENGTH or CONTROL_OR_SPACE.search(repo_url):
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
    if len(api_url) > MAX_URL_LENGTH or CONTROL_OR_SPACE.search(api_url):
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
