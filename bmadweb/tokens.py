"""Personal API tokens: create (shown once), revoke, authenticate (docs/security.md#s24).

A token is "bmw_" followed by 43 url-safe characters (256 random bits). Only its SHA-256
is stored, so a stolen database yields no usable token; authentication hashes what the
client sent and looks the hash up, so no comparison runs over secret bytes. Audit
records name the token and its prefix, never the token.

This is the token service module: `token_create` and `token_revoke` are services in the
sense of bmadweb.services (keyword-only, typed, audited in the same transaction) and may
write the audit chain; the two `tokens_for_user`/`token_for_owner` selectors and
`token_authenticate` live beside them. It stays apart from bmadweb.services because the
API's authentication (provisioning.api) needs it, and bmadweb.services sits above
provisioning in the layers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from bmadweb import crypto
from bmadweb.audit import audit_record
from bmadweb.models import ApiToken

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

TOKEN_PREFIX = "bmw_"  # noqa: S105 - a public marker, not a secret
PREFIX_CHARS = 12  # "bmw_" and 8 random characters: enough to tell tokens apart
MAX_TOKEN_CHARS = 200  # anything longer is not ours; refused before hashing
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token request that cannot be honoured; the message is for the person."""


def token_max_days() -> int:
    return int(settings.API_TOKEN_MAX_DAYS)


def _clean_scopes(scopes: Iterable[str]) -> set[str]:
    chosen = set(scopes)
    unknown = chosen - set(ApiToken.SCOPES)
    if unknown:
        raise TokenError(f"Unknown scope(s): {', '.join(sorted(unknown))}.")
    if not chosen:
        raise TokenError("Choose at least one scope.")
    return chosen


@transaction.atomic
def token_create(
    *, user: User, name: str, scopes: Iterable[str], expires_in_days: int
) -> tuple[ApiToken, str]:
    """Create a token for `user`. Returns the row and the plaintext token, which is never
    stored and must be shown to the person exactly once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("Give the token a name of 1 to 100 characters.")
    if not 1 <= expires_in_days <= token_max_days():
        raise TokenError(f"Expiry must be between 1 and {token_max_days()} days.")
    chosen = _clean_scopes(scopes)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=plaintext[:PREFIX_CHARS],
        token_hash=crypto.token_hash(plaintext),
        scope_read="read" in chosen,
        scope_write="write" in chosen,
        scope_run="run" in chosen,
        expires=timezone.now() + timedelta(days=expires_in_days),
    )
    audit_record(
        action="token.create",
        actor=user,
        payload={
            "token": token.pk,
            "name": token.name,
            "prefix": token.prefix,
            "scopes": token.scopes,
            "expires": token.expires.isoformat(),
        },
    )
    return token, plaintext


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: User | AnonymousUser | None) -> ApiToken:
    """Revoke `token` (idempotent: a revoked token stays revoked at its first time)."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db()
    if updated:
        audit_record(
            action="token.revoke",
            actor=actor,
            payload={"token": token.pk, "name": token.name, "prefix": token.prefix},
        )
    return token


def token_authenticate(raw: str) -> ApiToken | None:
    """The live token whose plaintext is `raw`, or None (unknown, expired or revoked).

    `last_used` is written at most once a minute per token, so a busy client does not
    turn every request into a database write.
    """
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > MAX_TOKEN_CHARS:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=crypto.token_hash(raw), revoked_at__isnull=True, expires__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
    return token


def tokens_for_user(user: User | AnonymousUser) -> QuerySet[ApiToken]:
    """Selector: the tokens `user` owns, newest first (revoked ones included)."""
    if not user.is_authenticated:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user=user).order_by("-created")


def token_for_owner(user: User | AnonymousUser, token_id: int) -> ApiToken | None:
    """Selector: token `token_id` if `user` owns it (another person's token is None)."""
    return tokens_for_user(user).filter(pk=token_id).first()
