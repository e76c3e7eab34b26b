"""Single sign-on with OpenID Connect, on mozilla-django-oidc (docs/security.md#s23).

Configured only by environment variables (README, "Configuration"); off unless
BMADWEB_OIDC_ISSUER is set. The provider's endpoints come from its discovery document
(``<issuer>/.well-known/openid-configuration``, fetched once and cached), whose
``issuer`` must be the configured one. The code flow uses state, nonce and PKCE (S256).

On top of the library's checks (signature by a key of the provider's JWKS, the
configured algorithm, nonce), an ID token must name the provider as ``iss``, this client
in ``aud`` (and ``azp`` when present), and carry ``exp`` and ``sub``.

Accounts are linked by (issuer, subject) in `OidcIdentity`, never by e-mail address: a
provider account cannot take over a local account, and local accounts stay usable for
break-glass sign-in. At every sign-in the groups claim (``BMADWEB_OIDC_GROUPS_CLAIM``)
maps to Django groups through ``BMADWEB_OIDC_GROUP_MAP``: project roles granted to those
groups (teams) follow, mapped groups the claim no longer names are removed, and groups
given by hand are left alone. ``BMADWEB_OIDC_STAFF_GROUPS`` and
``BMADWEB_OIDC_SUPERUSER_GROUPS`` name the provider groups that make a platform owner.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from bmadweb.models import OidcIdentity
from bmadweb.proxies import client_address
from bmadweb.services import (
    auth_oidc_account_create_record,
    auth_oidc_failure_record,
    auth_oidc_login_record,
)

logger = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
_ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_USERNAME_OK = re.compile(r"[^\w.@+-]+")
MAX_USERNAME = 150


class OidcError(Exception):
    """The provider or its answer cannot be used (plain reason, never a token)."""


def _allowed_url(url: str) -> bool:
    """https, or http to a loopback address (a provider on the same machine)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    try:
        return parts.scheme == "http" and ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return parts.scheme == "http" and parts.hostname == "localhost"


@functools.lru_cache(maxsize=4)
def discovery(issuer: str) -> dict[str, str]:
    """The provider's endpoints, from its discovery document (cached per issuer)."""
    if not _allowed_url(issuer):
        raise ImproperlyConfigured("BMADWEB_OIDC_ISSUER must be an https URL")
    try:
        answer = requests.get(issuer.rstrip("/") + DISCOVERY_PATH, timeout=settings.OIDC_TIMEOUT)
        answer.raise_for_status()
        document = answer.json()
    except (requests.RequestException, ValueError):
        raise OidcError("the identity provider's discovery document is unavailable") from None
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise OidcError("the discovery document names another issuer")
    endpoints = {}
    for key in _ENDPOINTS.values():
        url = document.get(key)
        if not isinstance(url, str) or not _allowed_url(url):
            raise OidcError(f"the discovery document has no usable {key}")
        endpoints[key] = url
    return endpoints


def oidc_setting(name: str, *default: Any) -> Any:
    """The library's settings, endpoints taken from the provider's discovery document."""
    if name in _ENDPOINTS:
        return discovery(settings.OIDC_ISSUER)[_ENDPOINTS[name]]
    return import_from_settings(name, *default)


def _require_enabled() -> None:
    if not settings.OIDC_ISSUER:
        raise Http404("Single sign-on is not configured.")


class OidcBackend(OIDCAuthenticationBackend):
    """The authentication backend; endpoints are read when a sign-in needs them, so a
    password sign-in never contacts the provider."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.UserModel = get_user_model()

    # The library reads these as attributes: resolved lazily through discovery.
    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_TOKEN_ENDPOINT"))
    OIDC_OP_USER_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_USER_ENDPOINT"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_JWKS_ENDPOINT"))
    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_RP_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_RP_CLIENT_SECRET)
    OIDC_RP_SIGN_ALGO = property(lambda self: settings.OIDC_RP_SIGN_ALGO)
    OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        if not settings.OIDC_ISSUER or request is None:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload: dict[str, Any] = super().verify_token(token, **kwargs)
        if kwargs.get("nonce") is None and "nonce" not in payload:
            return payload  # a signed userinfo answer, not an ID token
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if payload.get("iss") != settings.OIDC_ISSUER:
            raise SuspiciousOperation("the ID token was issued by another provider")
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("the ID token is meant for another client")
        if "azp" in payload and payload["azp"] != settings.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("the ID token was requested by another client")
        if not isinstance(payload.get("exp"), int | float) or not payload.get("sub"):
            raise SuspiciousOperation("the ID token has no expiry or subject")
        self._id_claims = payload
        return payload

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        subject = getattr(self, "_id_claims", {}).get("sub")
        # The userinfo answer must be about the ID token's subject (OIDC Core 5.3.2).
        return bool(subject) and claims.get("sub") == subject

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(
            oidc_identities__issuer=settings.OIDC_ISSUER,
            oidc_identities__subject=str(claims["sub"]),
        )

    @transaction.atomic
    def create_user(self, claims: dict[str, Any]) -> Any:
        user = self.UserModel.objects.create_user(
            _free_username(claims), email=_text(claims.get("email"), 254)
        )
        user.set_unusable_password()  # signs in through the provider only
        user.save(update_fields=["password"])
        OidcIdentity.objects.create(
            user=user, issuer=settings.OIDC_ISSUER, subject=str(claims["sub"])
        )
        auth_oidc_account_create_record(
            user=user, issuer=settings.OIDC_ISSUER, subject=str(claims["sub"])
        )
        return self.update_user(user, claims)

    @transaction.atomic
    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        user.email = _text(claims.get("email"), 254) or user.email
        user.first_name = _text(claims.get("given_name"), 150) or user.first_name
        user.last_name = _text(claims.get("family_name"), 150) or user.last_name
        provider_groups = _claimed_groups(claims)
        user.is_staff = bool(provider_groups & set(settings.OIDC_STAFF_GROUPS)) or bool(
            provider_groups & set(settings.OIDC_SUPERUSER_GROUPS)
        )
        user.is_superuser = bool(provider_groups & set(settings.OIDC_SUPERUSER_GROUPS))
        user.save()
        added, removed = sync_groups(user, provider_groups)
        OidcIdentity.objects.filter(user=user, issuer=settings.OIDC_ISSUER).update(
            last_login=timezone.now()
        )
        auth_oidc_login_record(
            user=user,
            issuer=settings.OIDC_ISSUER,
            groups_added=added,
            groups_removed=removed,
            address=client_address(self.request),
        )
        return user


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) and "\x00" not in value else ""


def _free_username(claims: dict[str, Any]) -> str:
    """A username from preferred_username (or e-mail, or subject) that no account has.
    A claim that is not a string, or holds a NUL, is passed over as `_text` passes it over
    for the e-mail address: an address refused as the e-mail never names the account."""
    raw = (
        _text(claims.get("preferred_username"), 1024)
        or _text(claims.get("email"), 254)
        or f"oidc-{claims['sub']}"
    )
    base = _USERNAME_OK.sub("-", str(raw)).strip("-")[: MAX_USERNAME - 8] or "oidc-user"
    model = get_user_model()
    candidate, n = base, 1
    while model.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _claimed_groups(claims: dict[str, Any]) -> set[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return set()
    return {item for item in value if isinstance(item, str) and 0 < len(item) <= 150}


def group_map() -> dict[str, str]:
    """Provider group → Django group, from BMADWEB_OIDC_GROUP_MAP ("idp=local" pairs)."""
    pairs = (entry.partition("=") for entry in settings.OIDC_GROUP_MAP)
    return {idp.strip(): local.strip() for idp, _, local in pairs if idp.strip() and local.strip()}


def sync_groups(user: Any, provider_groups: set[str]) -> tuple[list[str], list[str]]:
    """Make the user's mapped groups equal what the provider says; returns (added,
    removed). Groups outside the map (given by hand) are never touched."""
    mapping = group_map()
    wanted = {mapping[name] for name in provider_groups if name in mapping}
    managed = set(mapping.values())
    current = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
    added = sorted(wanted - current)
    removed = sorted(current - wanted)
    for name in added:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    if removed:
        user.groups.remove(*Group.objects.filter(name__in=removed))
    return added, removed


class OidcSignIn(OIDCAuthenticationRequestView):
    """Start a sign-in at the provider (state, nonce, PKCE)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        _require_enabled()
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except OidcError as exc:
            logger.warning("single sign-on unavailable: %s", exc)
            return _failed(request, str(exc))
        response: HttpResponse = super().get(request)
        return response


class OidcCallback(OIDCAuthenticationCallbackView):
    """The provider's redirect back: code → tokens → account. Any failure (the provider
    unreachable or refusing, a token that does not verify) is a failed sign-in with a
    plain message, never a 500."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        _require_enabled()
        try:
            response: HttpResponse = super().get(request)
        except (OidcError, SuspiciousOperation, requests.RequestException, jwt.PyJWTError,
                KeyError, TypeError, ValueError) as exc:  # fmt: skip
            logger.warning("single sign-on failed: %s", type(exc).__name__)
            return _failed(request, "the identity provider's answer could not be verified")
        return response

    def login_failure(self) -> HttpResponse:
        return _failed(self.request, "the identity provider did not sign you in")


def _failed(request: HttpRequest, reason: str) -> HttpResponse:
    auth_oidc_failure_record(reason=reason, address=client_address(request))
    return redirect(reverse("login") + "?sso=failed")
