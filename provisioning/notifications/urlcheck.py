"""Where notifications may go (docs/security.md#notifications, #s14).

A target URL is checked when it is saved and again before every send (DNS answers
change): printable ASCII, at most MAX_URL_LENGTH characters, and a host that passes the
repository URL policy's host rules with public addresses only. Loopback receivers pass
only where local repositories do (BMADWEB_ALLOW_LOCAL_REPOS: development and tests, the
same switch that lets the forge door reach a local forge stand-in).

* Signed webhooks: ``https://`` (``http://`` only to an allowed loopback receiver), no
  user name or password; the forge door then connects to the checked addresses only.
* Apprise URLs: the schemes of :mod:`provisioning.notifications.apprise_door` only, read
  by Apprise itself; the host a plugin would connect to is checked as above.

Pages show the redacted form alone: scheme and host, never a path, user or password.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from projects.validators import is_loopback_host
from provisioning.git_ops import urlpolicy
from provisioning.notifications.apprise_door import (
    AppriseUrlError,
    apprise_inspect,
    scheme_of,
)

MAX_URL_LENGTH = 1000


class TargetUrlError(ValueError):
    """A refused target URL, as a sentence for the form (it never quotes the URL)."""


@dataclass(frozen=True, slots=True)
class CheckedTarget:
    redacted: str
    host: str | None  # None: the service's host is fixed by the Apprise plugin
    addresses: tuple[str, ...]  # empty for a loopback receiver or a fixed host


def _check_text(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise TargetUrlError("Enter a URL.")
    if len(url) > MAX_URL_LENGTH:
        raise TargetUrlError(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(not ("!" <= ch <= "~") for ch in url) or "\\" in url:
        raise TargetUrlError(
            "The URL may contain only printable ASCII characters, without spaces or "
            "backslashes (encode them as %XX)."
        )
    return url


def check_host(
    host: str, *, allow_loopback: bool, resolve: urlpolicy.Resolver = urlpolicy.resolve_host
) -> tuple[str, ...]:
    """The public addresses of `host`, () for an allowed loopback host, else TargetUrlError."""
    if allow_loopback and is_loopback_host(host):
        return ()
    try:
        return urlpolicy.check_api_host(host, resolve=resolve)
    except urlpolicy.UrlPolicyError as exc:
        # The policy's sentences speak of repositories; here the host is a receiver's.
        message = exc.message.replace("repository host", "host").replace(
            "as repository hosts", "as hosts"
        )
        raise TargetUrlError(f"{message} (rule: {exc.rule})") from None


def check_webhook_url(
    url: str, *, allow_loopback: bool, resolve: urlpolicy.Resolver = urlpolicy.resolve_host
) -> CheckedTarget:
    url = _check_text(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetUrlError("The URL could not be read (check the host and port).") from None
    host = (parts.hostname or "").lower()
    loopback = allow_loopback and is_loopback_host(host)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise TargetUrlError("A webhook URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise TargetUrlError(
            "A webhook URL must not contain a user name or password; requests are signed."
        )
    if parts.fragment:
        raise TargetUrlError("A webhook URL must not contain '#'.")
    if not host:
        raise TargetUrlError("The URL names no host.")
    addresses = check_host(host, allow_loopback=allow_loopback, resolve=resolve)
    shown = host if port is None else f"{host}:{port}"
    return CheckedTarget(f"{parts.scheme}://{shown}/…", host, addresses)


def check_apprise_url(
    url: str, *, allow_loopback: bool, resolve: urlpolicy.Resolver = urlpolicy.resolve_host
) -> CheckedTarget:
    url = _check_text(url)
    if not scheme_of(url):
        raise TargetUrlError("An Apprise URL starts with its service, e.g. slack:// or mailtos://.")
    try:
        target = apprise_inspect(url)
    except AppriseUrlError as exc:
        raise TargetUrlError(str(exc)) from None
    if target.host is None:
        return CheckedTarget(target.redacted, None, ())
    addresses = check_host(target.host, allow_loopback=allow_loopback, resolve=resolve)
    return CheckedTarget(target.redacted, target.host, addresses)
