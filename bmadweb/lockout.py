"""The sign-in lockout, on django-axes (docs/security.md#s23).

Axes counts failures wherever Django authenticates (the sign-in page, the admin's
sign-in page, any later form), so no door is left unthrottled. This module gives it:

* the account key: the user name normalised as Django normalises it (NFKC), then
  case-folded, so look-alike spellings (fullwidth letters, ``Olivia``) share one counter;
* the client address: the socket peer, or, when the peer is one of the configured
  trusted proxies (``BMADWEB_TRUSTED_PROXIES``), the first address in
  ``X-Forwarded-For`` that is not one of them, read from the right;
* two counters: per (account, address), locking after ``BMADWEB_LOGIN_FAILURE_LIMIT``,
  and per account from every address, locking after ``BMADWEB_LOGIN_ACCOUNT_FAILURE_LIMIT``
  (a guesser spread over many addresses). One person's typos behind a shared proxy lock
  only that person's account at that address;
* the lockout page: the sign-in form with the reason, status 429;
* what axes decided about one refused attempt (``lockout_decision``), which the sign-in
  view hands to the audit service.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from bmadweb.proxies import client_address

MAX_USERNAME = 150


def normalise_username(value: object) -> str:
    """The lockout key of a user name: Django's NFKC normalisation, stripped as its form
    strips, then case-folded (and normalised again, as case folding can denormalise)."""
    text = unicodedata.normalize("NFKC", str(value or "")).strip()
    return unicodedata.normalize("NFKC", text.casefold())[:MAX_USERNAME]


def lockout_username(request: HttpRequest | None, credentials: Mapping[str, Any] | None) -> str:
    """AXES_USERNAME_CALLABLE: the normalised account key of an attempt."""
    if credentials:
        return normalise_username(credentials.get("username"))
    post = getattr(request, "POST", None)
    return normalise_username(post.get("username") if post is not None else "")


def lockout_client_address(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the client address (bmadweb.proxies), or None when the
    peer has none (a unix socket): axes stores it in an IP address column."""
    return client_address(request) or None


def failure_limit(request: HttpRequest | None = None, credentials: object = None) -> int:
    """AXES_FAILURE_LIMIT: the (account, address) limit, read when used."""
    return int(settings.LOGIN_FAILURE_LIMIT)


def cool_off(request: HttpRequest | None = None) -> timedelta:
    """AXES_COOLOFF_TIME: how long failures count and a lockout lasts."""
    return timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


class AccountAndAddressHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit per counter: AXES_LOCKOUT_PARAMETERS lists
    (account, address) first, then the account alone, which has its own, higher limit."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        per_pair, per_account = (
            attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        # Which counters reached their limit, for the audit record (lockout_decision).
        request.bmadweb_lockout_scope = [  # type: ignore[attr-defined]
            name
            for name, reached in (
                ("account_at_address", per_pair >= settings.LOGIN_FAILURE_LIMIT),
                ("account", per_account >= settings.LOGIN_ACCOUNT_FAILURE_LIMIT),
            )
            if reached
        ]
        if per_account >= settings.LOGIN_ACCOUNT_FAILURE_LIMIT:
            return max(per_pair, settings.LOGIN_FAILURE_LIMIT)
        return int(per_pair)


@dataclass(frozen=True)
class LockoutDecision:
    """What axes decided about a refused sign-in: refused because a lockout was already
    in force (not counted again), or counted, and then which counters it locked (empty
    when it locked nothing)."""

    already_locked: bool
    locked: tuple[str, ...]


def lockout_decision(request: HttpRequest) -> LockoutDecision:
    """Read axes' decision off the request after a failed authentication: the backend
    marks a refused-while-locked attempt before counting (and then does not count it),
    the handler marks the failure that reaches a limit after counting it."""
    locked_out = bool(getattr(request, "axes_locked_out", False))
    counted = getattr(request, "axes_failures_since_start", None) is not None
    if locked_out and not counted:
        return LockoutDecision(already_locked=True, locked=())
    if locked_out:
        scope = getattr(request, "bmadweb_lockout_scope", None) or ["account_at_address"]
        return LockoutDecision(already_locked=False, locked=tuple(scope))
    return LockoutDecision(already_locked=False, locked=())


LOCKED = (
    "Too many failed sign-ins. Wait {minutes} minutes, or ask a platform owner to reset "
    "your password."
)


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: Mapping[str, Any] | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the sign-in page saying why, with status 429."""
    minutes = math.ceil(settings.LOGIN_LOCKOUT_SECONDS / 60)
    form = AuthenticationForm(request, initial={"username": lockout_username(request, None)})
    context = {"form": form, "locked": LOCKED.format(minutes=minutes), "next": ""}
    return render(request, "registration/login.html", context, status=429)
