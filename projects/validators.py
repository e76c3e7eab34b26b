"""Field validators shared by forms, the admin and the API."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from provisioning.git_ops.urlpolicy import UrlPolicyError, check_repo_url


def validate_repo_url(value: str) -> None:
    """Apply the repository URL policy (docs/security.md#s1, #s14).

    The message names the rule that was broken, so the person can fix the URL.
    """
    try:
        check_repo_url(
            value, allow_local=settings.ALLOW_LOCAL_REPOS, local_root=settings.LOCAL_REPOS_ROOT
        )
    except UrlPolicyError as exc:
        raise ValidationError(
            "%(message)s (rule: %(rule)s)",
            code=f"url_{exc.rule}",
            params={"message": exc.message, "rule": exc.rule},
        ) from None


def is_loopback_host(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def validate_forge_api_url(value: str) -> None:
    """The forge API receives the project's forge token: same address policy as clones
    (https, public addresses only). A loopback http(s) URL is accepted only where local
    repositories are (development and tests, e.g. a local forge stand-in)."""
    if not value:
        return
    parts = urlsplit(value)
    if (
        settings.ALLOW_LOCAL_REPOS
        and parts.scheme in ("http", "https")
        and is_loopback_host(parts.hostname or "")
    ):
        return
    try:
        check_repo_url(value, allow_local=False)
    except UrlPolicyError as exc:
        raise ValidationError(
            "%(message)s (rule: %(rule)s)",
            code=f"url_{exc.rule}",
            params={"message": exc.message, "rule": exc.rule},
        ) from None
