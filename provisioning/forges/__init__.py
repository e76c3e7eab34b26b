"""The only door to forge APIs: pull/merge requests on GitHub, GitLab and Gitea.

Open or update the request of a run's branch, and close the older requests it supersedes
(with a comment pointing to the new one; their branches are left alone).

It is also bmadweb's one door for outgoing HTTP: signed notification webhooks are posted
through :func:`post_json` (:mod:`provisioning.forges.outgoing`) with the same hardening.

This package is the only importer of :mod:`httpx` (an import contract holds it). It knows nothing of
Django: the repository, the token and the time budget arrive as arguments.

Defences, because forge answers and URLs come from outside:

* redirects are never followed (SSRF), proxies, ``.netrc`` and other environment settings
  are ignored, and the default API base is derived from a repository URL whose owner path
  uses only ``[A-Za-z0-9._-]`` parts (no ``..``, no empty parts; see
  :mod:`provisioning.forges.repo_urls`);
* answers are read through a 1 MiB cap and parsed defensively: anything unexpected becomes
  ``ForgeError("unexpected answer from the forge")``;
* every httpx exception is replaced by one of ours with a sentence composed here, raised
  outside the ``except`` block so no chained exception carries httpx's text; the token is
  scrubbed from any forge message we quote and never logged.

Callers retry on :class:`ForgeTransientError` (429, 5xx, timeouts, connection errors) and
show the message of any other :class:`ForgeError` to the user as is.
"""

from provisioning.forges.discovery import BMAD_PROBES, DiscoveredRepo, discover_org
from provisioning.forges.http import (
    AUTH_REFUSED,
    REPO_NOT_FOUND,
    UNEXPECTED_ANSWER,
    ForgeTransientError,
)
from provisioning.forges.outgoing import OutgoingError, post_json
from provisioning.forges.pulls import (
    PullRequest,
    close_superseded_pull_requests,
    open_or_update_pull_request,
)
from provisioning.forges.repo_urls import (
    FORGE_KINDS,
    ForgeError,
    ForgeKind,
    ForgeOrg,
    ForgeRepo,
    forge_org_from_url,
    forge_repo_from_url,
)

__all__ = [
    "AUTH_REFUSED",
    "BMAD_PROBES",
    "FORGE_KINDS",
    "REPO_NOT_FOUND",
    "UNEXPECTED_ANSWER",
    "DiscoveredRepo",
    "ForgeError",
    "ForgeKind",
    "ForgeOrg",
    "ForgeRepo",
    "ForgeTransientError",
    "OutgoingError",
    "PullRequest",
    "close_superseded_pull_requests",
    "discover_org",
    "forge_org_from_url",
    "forge_repo_from_url",
    "open_or_update_pull_request",
    "post_json",
]
