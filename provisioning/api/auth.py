"""Bearer-token authentication, per-token rate limits and token scopes for the API.

Only the `Authorization: Bearer <token>` header is read: never a query string, a cookie
or the session, so a browser's ambient credentials can never drive the API (and CSRF
does not apply). Order of checks: the token (401), its rate budget (429), its scope (403).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security.http import HttpBearer

from bmadweb.models import ApiToken
from bmadweb.tokens import token_authenticate
from provisioning.api.ratelimit import rate_limit_hit


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Rate limit exceeded: retry in {retry_after} seconds.")


class ScopeMissing(Exception):
    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"This token lacks the '{scope}' scope needed here.")


class TokenAuth(HttpBearer):
    """Accepts a live personal token that holds `scope`."""

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest) -> Any:
        # Parsed here rather than by HttpBearer, which logs the raw header in DEBUG.
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            return None
        return self.authenticate(request, raw.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = token_authenticate(token)
        if api_token is None:
            return None
        decision = rate_limit_hit(key=api_token.token_hash[:32], limit=settings.API_RATE_LIMIT)
        if not decision.allowed:
            raise RateLimited(decision.retry_after)
        if not api_token.has_scope(self.scope):
            raise ScopeMissing(self.scope)
        return api_token


READ = TokenAuth("read")
WRITE = TokenAuth("write")
RUN = TokenAuth("run")
