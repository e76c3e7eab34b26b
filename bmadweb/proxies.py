"""The client's address behind configured reverse proxies (docs/security.md#s23).

The socket peer is the client unless it is one of ``BMADWEB_TRUSTED_PROXIES``; then
``X-Forwarded-For`` is read from the right while each hop is a trusted proxy, and the first
hop that is not is the client. A client talking to the app directly, or one writing a
forged header in front of the real chain, never chooses its own address.

Imported by the settings (to check the list at start-up), so it imports no model.
"""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_FORWARDED_HOPS = 20


@cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def trusted_proxy_networks(entries: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """Parse BMADWEB_TRUSTED_PROXIES (addresses or CIDR ranges); ValueError when bad."""
    return _networks(tuple(entries))


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE, and the address the audit log records."""
    peer = _address(str(request.META.get("REMOTE_ADDR", "")))
    if peer is None:
        return ""
    trusted = trusted_proxy_networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))

    def is_trusted(address: Address) -> bool:
        return any(address.version == net.version and address in net for net in trusted)

    client = peer
    if trusted and is_trusted(peer):
        hops = str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
        for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
            address = _address(hop)
            if address is None:
                break  # a hop that is not an address: keep the last trusted one
            client = address
            if not is_trusted(address):
                break
    return str(client)
