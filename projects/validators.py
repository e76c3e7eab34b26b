"""Field validators shared by forms, the admin and the API."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError

from provisioning.urlpolicy import UrlPolicyError, check_repo_url


def validate_repo_url(value: str) -> None:
    """Apply the repository URL policy (SECURITY.md sections 1 and 14).

    The message names the rule that was broken, so the person can fix the URL.
    """
    try:
        check_repo_url(value, allow_local=settings.ALLOW_LOCAL_REPOS)
    except UrlPolicyError as exc:
        raise ValidationError(
            "%(message)s (rule: %(rule)s)",
            code=f"url_{exc.rule}",
            params={"message": exc.message, "rule": exc.rule},
        ) from None
