"""Repository URL policy: the gate every clone/fetch/push URL passes before git sees it.

Git happily runs commands named in a URL (``ext::sh -c …``), treats leading dashes as
options (``ssh://-oProxyCommand=…``) and connects wherever DNS points, so bmadweb keeps
its own, much narrower idea of an acceptable remote (docs/security.md#s1, #s2, #s14):

* ``https://host[:443]/path`` and ``ssh://[user@]host[:22]/path`` or ``[user@]host:path``;
* no credentials in URLs, no leading ``-`` in any part, printable ASCII only;
* hosts are DNS names, never IP literals (in any of the encodings that resolvers and curl
  accept), never metadata or local names, and every address they resolve to must be a
  public unicast address;
* local paths and ``file://`` only when the caller explicitly allows them (tests and
  development), and then only absolute paths to existing directories.

This module imports nothing from Django: settings arrive as arguments. Name resolution is
injectable so the tests stay offline.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

MAX_URL_LENGTH = 1024

Resolver = Callable[[str], Sequence[str]]
UrlKind = Literal["https", "ssh", "local"]


class UrlPolicyError(ValueError):
    """A repository URL broke one of the policy rules.

    ``rule`` is a stable short code (for tests, metrics and API clients); ``message`` is
    a plain sentence that can be shown next to the form field.
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A URL that passed the policy, with what was learnt while checking it."""

    url: str
    kind: UrlKind
    host: str | None = None
    user: str | None = None
    path: str = ""
    addresses: tuple[str, ...] = ()


def resolve_host(host: str) -> list[str]:
    """Every address the system resolver gives for ``host`` (TCP only)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Git's "<transport>::<address>" syntax runs remote helpers such as ext:: and fd::.
_TRANSPORT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")
_SCP_RE = re.compile(r"^(?:(?P<user>[^@/:]*)@)?(?P<host>[^@/:]*):(?P<path>.*)$")
_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# A last label that is a number makes the whole host an IPv4 literal for WHATWG URL
# parsers, inet_aton and curl (127.1, 2130706433, 0x7f.1, 0177.0.0.1).
_NUMERIC_LABEL_RE = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")
_PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~%+@:-]+$")

_BLOCKED_NAMES = frozenset(
    {
        "localhost",
        "localdomain",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# Names under these (and the bare names themselves: "internal", "local") are never public:
# special-use and reverse-lookup domains, and the private top-level names of RFC 6762
# appendix G that intranets use.
_BLOCKED_SUFFIXES = (
    ".localhost",
    ".localdomain",
    ".local",
    ".internal",
    ".home.arpa",
    ".arpa",
    ".intranet",
    ".private",
    ".corp",
    ".home",
    ".lan",
)

# Metadata endpoints that ipaddress alone calls global, ranges that embed an IPv4 address
# inside IPv6 (6to4, Teredo, NAT64) and so can smuggle a private one, and IPv6 ranges that
# ipaddress calls global although they never are: site-local (deprecated, still routed
# inside networks) and the documentation prefix 3fff::/20 (RFC 9637).
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "100.64.0.0/10",
        "192.0.0.0/24",
        "169.254.0.0/16",
        "100.100.100.200/32",
        "2002::/16",
        "2001::/32",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "fd00:ec2::254/128",
        "fec0::/10",
        "3fff::/20",
    )
)

# Every rule code UrlPolicyError.rule can carry.
RULES = (
    "type",
    "empty",
    "too_long",
    "characters",
    "leading_dash",
    "transport",
    "scheme",
    "local_disabled",
    "local_path",
    "userinfo",
    "user",
    "port",
    "host",
    "ip_literal",
    "blocked_host",
    "path",
    "query",
    "unresolvable",
    "blocked_address",
    "local_root",
)


def _fail(rule: str, message: str) -> UrlPolicyError:
    assert rule in RULES, rule
    return UrlPolicyError(rule, message)


def check_repo_url(
    url: str,
    *,
    allow_local: bool,
    resolve: Resolver = resolve_host,
    local_root: str | os.PathLike[str] | None = None,
) -> CheckedUrl:
    """Return ``url`` as a :class:`CheckedUrl` or raise :class:`UrlPolicyError`.

    ``resolve`` is called at most once, with a host that already passed every syntactic
    rule, so nothing that is rejected ever reaches DNS or the network.
    """
    _check_text(url)
    if _TRANSPORT_RE.match(url):
        raise _fail("transport", "Git transport helpers such as ext:: or fd:: are not allowed.")
    scheme_match = _SCHEME_RE.match(url)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        rest = url[scheme_match.end() :]
        if scheme == "file":
            return _check_file_url(url, rest, allow_local=allow_local, local_root=local_root)
        if scheme not in ("https", "ssh"):
            raise _fail("scheme", "Only https:// and ssh:// repository URLs are allowed.")
        return _check_remote_url(url, scheme, rest, resolve)
    if url.startswith("/"):
        return _check_local_path(url, url, allow_local=allow_local, local_root=local_root)
    scp = _SCP_RE.match(url)
    if scp and "/" not in url.split(":", 1)[0]:
        return _check_scp(url, scp, resolve)
    if allow_local:
        raise _fail("local_path", "A local repository must be an absolute path.")
    raise _fail("scheme", "Only https:// and ssh:// repository URLs are allowed.")


def _check_text(url: object) -> None:
    if not isinstance(url, str):
        raise _fail("type", "The repository URL must be text.")
    if not url:
        raise _fail("empty", "The repository URL is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise _fail("too_long", f"The repository URL is longer than {MAX_URL_LENGTH} characters.")
    # Printable ASCII only: no whitespace, control characters, NUL or look-alike Unicode.
    if any(not ("!" <= ch <= "~") for ch in url) or "\\" in url:
        raise _fail(
            "characters",
            "The repository URL may contain only printable ASCII characters, "
            "without spaces or backslashes.",
        )
    if url.startswith("-"):
        raise _fail("leading_dash", "The repository URL must not start with '-'.")


def _check_file_url(
    url: str, rest: str, *, allow_local: bool, local_root: str | os.PathLike[str] | None
) -> CheckedUrl:
    if not allow_local:
        raise _fail("local_disabled", "Local repositories (file://) are not allowed here.")
    if not rest.startswith("/"):
        raise _fail("local_path", "A file:// URL must have an empty host: file:///absolute/path.")
    return _check_local_path(url, rest, allow_local=True, local_root=local_root)


def _check_local_path(
    url: str, path: str, *, allow_local: bool, local_root: str | os.PathLike[str] | None
) -> CheckedUrl:
    if not allow_local:
        raise _fail("local_disabled", "Local repository paths are not allowed here.")
    if "%" in path or "?" in path or "#" in path:
        raise _fail("local_path", "A local repository path must not contain '%', '?' or '#'.")
    if not os.path.isabs(path) or not os.path.isdir(path):
        raise _fail("local_path", "A local repository must be an existing absolute directory.")
    if local_root is not None:
        # Links resolved first: a symlink inside the root may not lead out of it.
        root = os.path.realpath(local_root)
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise _fail(
                "local_root", "A local repository must lie under the configured local root."
            )
    return CheckedUrl(url=url, kind="local", path=path)


def _check_remote_url(url: str, scheme: str, rest: str, resolve: Resolver) -> CheckedUrl:
    if "?" in rest or "#" in rest:
        raise _fail("query", "The repository URL must not contain '?' or '#'.")
    authority, slash, path = rest.partition("/")
    user: str | None = None
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        if scheme == "https":
            raise _fail(
                "userinfo",
                "https URLs must not contain a user name or password; "
                "store credentials separately.",
            )
        user = _check_ssh_user(userinfo)
    host = _check_port(authority, scheme).lower()
    _check_host(host)
    _check_path(slash + path, absolute=True)
    addresses = _resolve_public(host, resolve)
    kind: UrlKind = "https" if scheme == "https" else "ssh"
    return CheckedUrl(url=url, kind=kind, host=host, user=user, path=path, addresses=addresses)


def _check_scp(url: str, match: re.Match[str], resolve: Resolver) -> CheckedUrl:
    user = match.group("user")
    host = match.group("host")
    path = match.group("path")
    if user is not None:
        user = _check_ssh_user(user)
    host = host.lower()
    _check_host(host)
    _check_path(path, absolute=False)
    addresses = _resolve_public(host, resolve)
    return CheckedUrl(url=url, kind="ssh", host=host, user=user, path=path, addresses=addresses)


def _check_ssh_user(userinfo: str) -> str:
    if ":" in userinfo:
        raise _fail("userinfo", "ssh URLs must not contain a password.")
    if userinfo.startswith("-"):
        raise _fail("leading_dash", "The ssh user name must not start with '-'.")
    if not _USER_RE.match(userinfo):
        raise _fail("user", "The ssh user name may contain only letters, digits, '.', '_', '-'.")
    return userinfo


def _check_port(authority: str, scheme: str) -> str:
    if authority.startswith("["):
        raise _fail("ip_literal", "IP addresses are not allowed as repository hosts.")
    host, colon, port = authority.partition(":")
    if colon:
        allowed = "443" if scheme == "https" else "22"
        if port != allowed:
            raise _fail("port", f"{scheme} repository URLs must use the standard port {allowed}.")
    return host


def _check_host(host: str) -> None:
    if host.startswith("-"):
        raise _fail("leading_dash", "The repository host must not start with '-'.")
    if host.startswith("["):
        raise _fail("ip_literal", "IP addresses are not allowed as repository hosts.")
    name = host.lower()
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise _fail("host", "The repository host is not a valid DNS name.")
    if _NUMERIC_LABEL_RE.match(labels[-1]):
        raise _fail("ip_literal", "IP addresses are not allowed as repository hosts.")
    if name in _BLOCKED_NAMES or f".{name}".endswith(_BLOCKED_SUFFIXES):
        raise _fail("blocked_host", "Local, internal and metadata host names are not allowed.")


def _check_path(path: str, *, absolute: bool) -> None:
    if path.startswith("-"):
        raise _fail("leading_dash", "The repository path must not start with '-'.")
    if absolute and not path.startswith("/"):
        raise _fail("path", "The repository URL must name a repository path.")
    segments = path.strip("/").split("/")
    if segments == [""]:
        raise _fail("path", "The repository URL must name a repository path.")
    for segment in segments:
        if segment.startswith("-"):
            raise _fail("leading_dash", "No part of the repository path may start with '-'.")
        if segment in ("", ".", "..") or not _PATH_SEGMENT_RE.match(segment):
            raise _fail(
                "path",
                "The repository path may contain only letters, digits and . _ ~ % + @ : - "
                "separated by single slashes, without '.' or '..' parts.",
            )


def _resolve_public(host: str, resolve: Resolver) -> tuple[str, ...]:
    try:
        raw = list(resolve(host))
    except (OSError, UnicodeError, ValueError):
        raw = []
    if not raw:
        raise _fail("unresolvable", f"The repository host {host} could not be resolved.")
    addresses = []
    for text in raw:
        address = _parse_address(text)
        if address is None or not _is_public(address):
            raise _fail(
                "blocked_address",
                f"The repository host {host} resolves to a private, local or reserved "
                "address, which is not allowed.",
            )
        addresses.append(str(address))
    return tuple(addresses)


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(text).split("%", 1)[0])
    except ValueError:
        return None


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return False
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ):
        return False
    return not any(address.version == net.version and address in net for net in _BLOCKED_NETWORKS)


def check_api_host(host: str, *, resolve: Resolver = resolve_host) -> tuple[str, ...]:
    """The public addresses of a forge API host, or UrlPolicyError: the same host rules
    and address checks as repository URLs (docs/security.md#s14). The forge door then
    connects to these addresses only, so a DNS answer that changes after this check
    (rebinding) is never followed."""
    host = (host or "").lower()
    _check_host(host)
    return _resolve_public(host, resolve)
