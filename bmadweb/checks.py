"""System checks for settings that are only safe in development."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register("security", deploy=False)
def local_repos_need_debug(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Local paths and file:// repository URLs let a user read the server's disk."""
    if settings.ALLOW_LOCAL_REPOS and not settings.DEBUG:
        return [
            Error(
                "BMADWEB_ALLOW_LOCAL_REPOS is on while DEBUG is off.",
                hint="Local repository paths are for development and tests only: unset "
                "BMADWEB_ALLOW_LOCAL_REPOS (or set it to 0) in production.",
                id="bmadweb.E001",
            )
        ]
    return []
