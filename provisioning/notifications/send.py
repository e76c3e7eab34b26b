"""One notification on the wire (worker side; docs/security.md#notifications).

Signed webhooks: the JSON body is POSTed through the forge door (the one importer of
httpx) to the addresses the URL policy checked just now, with four headers:

* ``X-Bmadweb-Event``: the event name; ``X-Bmadweb-Delivery``: the delivery's id;
* ``X-Bmadweb-Timestamp``: Unix seconds when it was signed;
* ``X-Bmadweb-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the target's
  secret, of the timestamp, a ``.`` and the exact body bytes.

A receiver recomputes the HMAC over ``timestamp + "." + body``, compares in constant
time and refuses timestamps more than a few minutes old (replays).

Apprise targets go through the Apprise door. Every error is a sentence of ours, scrubbed
of the target's URL, its parts and its secret before anyone stores or logs it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings

from bmadweb import crypto
from bmadweb.logscrub import register_secret, scrub, scrub_values
from provisioning import forges
from provisioning.notifications.apprise_door import (
    AppriseSendError,
    apprise_send,
    register_url_secrets,
    secret_parts,
)
from provisioning.notifications.models import NotificationDelivery, NotificationKind
from provisioning.notifications.urlcheck import (
    TargetUrlError,
    check_apprise_url,
    check_webhook_url,
)

SIGNATURE_HEADER = "X-Bmadweb-Signature"
TIMESTAMP_HEADER = "X-Bmadweb-Timestamp"


class DeliveryFailed(Exception):
    """The send failed; the message is scrubbed and safe to store and show."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + crypto.hmac_sha256_hex(
        secret.encode("utf-8"), timestamp.encode() + b"." + body
    )


def webhook_body(delivery: NotificationDelivery) -> bytes:
    document: dict[str, Any] = {**delivery.payload, "delivery": delivery.pk}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _send_webhook(delivery: NotificationDelivery, url: str, secret: str) -> None:
    checked = check_webhook_url(url, allow_loopback=settings.ALLOW_LOCAL_REPOS)
    body = webhook_body(delivery)
    timestamp = str(int(time.time()))
    headers = {
        "X-Bmadweb-Event": delivery.event,
        "X-Bmadweb-Delivery": str(delivery.pk),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    forges.post_json(
        url,
        body,
        headers=headers,
        addresses=checked.addresses,
        timeout_s=settings.NOTIFY_TIMEOUT_S,
    )


def _send_apprise(delivery: NotificationDelivery, url: str) -> None:
    checked = check_apprise_url(url, allow_loopback=settings.ALLOW_LOCAL_REPOS)
    payload = delivery.payload
    body = str(payload.get("text") or payload.get("title") or delivery.event)
    if payload.get("url"):
        body += f"\n{payload['url']}"
    apprise_send(
        url,
        title=str(payload.get("title") or "bmadweb"),
        body=body,
        timeout_s=settings.NOTIFY_TIMEOUT_S,
        host=checked.host,
    )


def delivery_send(delivery: NotificationDelivery) -> None:
    """Send it once; DeliveryFailed with a scrubbed sentence when it did not arrive."""
    target = delivery.target
    url = target.get_url()
    secret = target.get_secret()
    register_url_secrets(url)  # decrypted for use: scrubbed from every log line from now on
    register_secret(secret)
    message = ""
    try:
        if target.kind == NotificationKind.WEBHOOK:
            _send_webhook(delivery, url, secret)
        else:
            _send_apprise(delivery, url)
    except TargetUrlError as exc:
        message = f"the URL is no longer allowed: {exc}"
    except forges.OutgoingError as exc:
        message = exc.message
    except AppriseSendError as exc:
        message = str(exc)
    if message:
        keep = None if target.kind == NotificationKind.WEBHOOK else _host_of(target.url_redacted)
        cleaned = scrub(scrub_values(message, [*secret_parts(url, keep=keep), secret]))
        raise DeliveryFailed(cleaned[:500])


def _host_of(redacted: str) -> str | None:
    rest = redacted.partition("://")[2]
    return rest.split("/", 1)[0] or None
