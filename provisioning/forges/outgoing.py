"""Outgoing signed webhooks: one JSON POST with the forge door's hardening.

The notification sender (provisioning.notifications) posts through here so that httpx
keeps a single importer (docs/architecture.md#doors): no redirects, no proxies or
``.netrc`` from the environment, the connection aimed at the addresses the URL policy
checked (no second DNS lookup: docs/security.md#s14), the answer read through a small
cap, and every failure turned into a sentence of ours that quotes neither the URL nor
httpx's text (the URL may hold a token).
"""

from __future__ import annotations

import time

import httpx

from provisioning.forges.http import USER_AGENT, pinned

MAX_ANSWER_BYTES = 64 * 1024


class OutgoingError(Exception):
    """A delivery that did not reach its receiver, in a plain sentence (no URL)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def post_json(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str],
    addresses: tuple[str, ...],
    timeout_s: float,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """POST `body` (JSON) to `url`; the answer's status when it is 2xx, else OutgoingError.

    `addresses`: the public addresses the URL policy resolved the host to (empty only for
    a loopback receiver where the policy allows one, in development and tests)."""
    failure: OutgoingError | None = None
    status = 0
    try:
        status = _exchange(url, body, headers, addresses, timeout_s, transport)
    except httpx.TimeoutException:
        failure = OutgoingError("the receiver did not answer in time")
    except httpx.TransportError:
        failure = OutgoingError("could not connect to the receiver")
    except (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict):
        failure = OutgoingError("the request could not be sent")
    if failure is not None:
        # Raised outside the except blocks: no httpx exception (with the URL) is chained.
        raise failure
    if 300 <= status < 400:
        raise OutgoingError(
            f"the receiver answered with a redirect (HTTP {status}), which is not followed",
            status=status,
        )
    if not 200 <= status < 300:
        raise OutgoingError(f"the receiver answered HTTP {status}", status=status)
    return status


def _exchange(
    url: str,
    body: bytes,
    headers: dict[str, str],
    addresses: tuple[str, ...],
    timeout_s: float,
    transport: httpx.BaseTransport | None,
) -> int:
    deadline = time.monotonic() + timeout_s
    target, host_header, extensions = pinned(httpx.URL(url), addresses)
    with (
        httpx.Client(
            headers={"User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        ) as client,
        client.stream(
            "POST",
            target,
            content=body,
            headers={**headers, **host_header, "Content-Type": "application/json"},
            extensions=extensions,
        ) as response,
    ):
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_ANSWER_BYTES or time.monotonic() > deadline:
                break  # the status is all we need; the rest is not read
        return response.status_code
