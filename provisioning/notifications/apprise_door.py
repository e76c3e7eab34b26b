"""The Apprise door: the only importer of :mod:`apprise` (an import contract holds it).

Apprise's plugins open their own connections, so bmadweb narrows what it accepts
(docs/security.md#notifications):

* an allow-list of schemes: chat services whose host is fixed by the plugin (Slack,
  Discord) and services that name a host (JSON and form posts, Teams workflows,
  Matrix, e-mail), whose host the caller checks against the URL policy;
* every send forces redirects off, certificate checks on, Matrix server discovery off
  (it would follow a ``.well-known`` answer to another host) and our own time limits,
  whatever the URL's parameters say;
* Apprise's own log lines never reach the site's log (they may quote a URL): they are
  captured per send, scrubbed of the URL's secrets and kept as the delivery's error.

Nothing here knows of Django: the URL and the limits arrive as arguments.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import apprise

from bmadweb.logscrub import ScrubSecretsFilter, register_secret, scrub_values

# Services whose plugin posts to its own fixed host: the URL's "host" is a token.
FIXED_HOST_SCHEMES = frozenset({"slack", "discord"})
# Services that connect to the host the URL names (e-mail: its SMTP server).
HOST_SCHEMES = frozenset(
    {"json", "jsons", "form", "forms", "workflows", "matrix", "matrixs", "mailto", "mailtos"}
)
ALLOWED_SCHEMES = FIXED_HOST_SCHEMES | HOST_SCHEMES

_logger = logging.getLogger("apprise")
_logger.propagate = False  # captured per send instead (they may quote the URL)
_logger.addHandler(logging.NullHandler())
# And scrubbed before any handler sees them, the per-send capture included.
_logger.addFilter(ScrubSecretsFilter())

_SPLIT = re.compile(r"[/:@?&=#,+]+")
_MIN_PART = 6


class AppriseUrlError(ValueError):
    """The URL is not one Apprise (or bmadweb's allow-list) accepts; a plain sentence."""


class AppriseSendError(Exception):
    """Apprise could not deliver; the sentence is scrubbed of the URL's secrets."""


@dataclass(frozen=True, slots=True)
class AppriseTarget:
    scheme: str
    host: str | None  # the host to check against the URL policy; None: fixed by the plugin
    redacted: str


def scheme_of(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def secret_parts(url: str, keep: str | None = None) -> list[str]:
    """The URL and the pieces of it long enough to be a token, to scrub from any text
    (the checked host, `keep`, stays readable)."""
    rest = url.partition("://")[2]
    parts = {p for p in _SPLIT.split(rest) if len(p) >= _MIN_PART and p != keep}
    return [url, *sorted(parts, key=len, reverse=True)]


def register_url_secrets(url: str) -> None:
    """Register the URL and its token-like parts with the log scrubber, so that no log
    line of any library (Apprise, urllib3, httpx) carries them (docs/security.md#s8).
    Only a password and the parts that look like tokens (a digit and 8 characters, or 20
    characters): plain words of a path would otherwise vanish from every log line, and
    so would the host, which is no secret (for Slack and Discord it is a token)."""
    register_secret(url)
    rest = url.partition("://")[2]
    authority, _, path = rest.partition("/")
    userinfo, _, hostport = authority.rpartition("@")
    register_secret(userinfo.partition(":")[2])
    parts = _SPLIT.split(path)
    if scheme_of(url) in FIXED_HOST_SCHEMES:
        parts.append(hostport)
    for part in parts:
        if len(part) >= 20 or (len(part) >= 8 and any(ch.isdigit() for ch in part)):
            register_secret(part)


def _instantiate(url: str) -> Any:
    with apprise.LogCapture(level=logging.DEBUG, fmt="%(message)s"):  # dropped: may quote it
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)


def apprise_inspect(url: str) -> AppriseTarget:
    """What Apprise makes of `url`, or AppriseUrlError (never quoting the URL)."""
    scheme = scheme_of(url)
    if scheme not in ALLOWED_SCHEMES:
        allowed = ", ".join(sorted(ALLOWED_SCHEMES))
        raise AppriseUrlError(
            f"This kind of Apprise URL is not accepted here; use one of: {allowed}."
        )
    register_url_secrets(url)
    plugin = _instantiate(url)
    if plugin is None:
        raise AppriseUrlError(
            f"Apprise does not understand this {scheme}:// URL: check its parts against the "
            "service's documented format."
        )
    if scheme in FIXED_HOST_SCHEMES:
        return AppriseTarget(scheme, None, f"{scheme}://…")
    host = str(getattr(plugin, "smtp_host", "") or plugin.host or "").lower()
    if not host:
        raise AppriseUrlError(f"This {scheme}:// URL names no server.")
    shown = str(plugin.host or host).lower()
    return AppriseTarget(scheme, host, f"{scheme}://{shown}/…")


def _harden(plugin: Any, timeout_s: float) -> None:
    plugin.redirects = False
    plugin.verify_certificate = True
    plugin.socket_connect_timeout = timeout_s
    plugin.socket_read_timeout = timeout_s
    if hasattr(plugin, "discovery"):
        plugin.discovery = False


def apprise_send(url: str, *, title: str, body: str, timeout_s: float, host: str | None) -> None:
    """Send one message; AppriseSendError with Apprise's reason, scrubbed, when it fails."""
    secrets = secret_parts(url, keep=host)
    register_url_secrets(url)
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if plugin is None:
            raise AppriseSendError("Apprise no longer accepts this URL")
        _harden(plugin, timeout_s)
        try:
            ok = bool(plugin.notify(body=body, title=title))
        except Exception:  # a plugin bug must not leak its text (or the URL) upwards
            ok = False
        lines = captured.getvalue().splitlines()
    if ok:
        return
    reasons = lines[-2:]
    reason = " ".join(reasons).strip() or "the service refused the message or could not be reached"
    message = scrub_values(reason, secrets)
    raise AppriseSendError(re.sub(r"[^\x20-\x7e]+", " ", message)[:400])
