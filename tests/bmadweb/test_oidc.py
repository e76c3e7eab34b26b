"""Single sign-on with OpenID Connect (docs/security.md#s23), against a provider stub
that speaks the real protocol on 127.0.0.1: discovery, the authorization redirect, the
token endpoint (client secret, code, PKCE), a JWKS and an ID token signed with an RSA key
made in the test, and userinfo. Teams and roles come from the provider's groups claim;
local accounts stay for break-glass sign-in and are never taken over."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import Group

from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord, OidcIdentity
from bmadweb.oidc import discovery

pytestmark = pytest.mark.django_db

CLIENT_ID = "bmadweb-test"
CLIENT_SECRET = "client-secret-" + "s" * 20


class Provider:
    """An OpenID provider on 127.0.0.1 (authorization code flow with PKCE)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.codes: dict[str, dict[str, str]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, Any] = {}
        self.tamper: dict[str, Any] = {}  # changes to the next ID token's claims
        self.sign_with: rsa.RSAPrivateKey | None = None  # another key: a forged signature
        self.token_status = 200
        self.requests: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                provider.requests.append(url.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, provider.document())
                elif url.path == "/jwks":
                    self._json(200, provider.jwks())
                elif url.path == "/authorize":
                    self._authorize(parse_qs(url.query))
                elif url.path == "/userinfo":
                    auth = self.headers.get("Authorization", "")
                    info = provider.tokens.get(auth.removeprefix("Bearer "))
                    self._json(200, info) if info else self._json(401, {"error": "token"})
                else:
                    self._json(404, {})

            def _authorize(self, query: dict[str, list[str]]) -> None:
                params = {k: v[0] for k, v in query.items()}
                assert params["client_id"] == CLIENT_ID
                assert params["response_type"] == "code"
                code = secrets.token_urlsafe(16)
                provider.codes[code] = params
                target = (
                    params["redirect_uri"]
                    + "?"
                    + urlencode({"code": code, "state": params["state"]})
                )
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()

            def do_POST(self) -> None:
                provider.requests.append(self.path)
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path != "/token" or provider.token_status != 200:
                    self._json(provider.token_status, {"error": "server_error"})
                    return
                params = provider.codes.pop(form.get("code", ""), None)
                challenge = (
                    base64.urlsafe_b64encode(
                        hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    )
                    .rstrip(b"=")
                    .decode()
                )
                if (
                    params is None
                    or form.get("client_id") != CLIENT_ID
                    or form.get("client_secret") != CLIENT_SECRET
                    or form.get("redirect_uri") != params["redirect_uri"]
                    or challenge != params.get("code_challenge")
                ):
                    self._json(400, {"error": "invalid_grant"})
                    return
                access = secrets.token_urlsafe(24)
                provider.tokens[access] = dict(provider.claims)
                self._json(200, {
                    "access_token": access,
                    "token_type": "Bearer",
                    "id_token": provider.id_token(params["nonce"]),
                    "expires_in": 300,
                })  # fmt: skip

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def document(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": self.claims["sub"],
            "nonce": nonce,
            "iat": now,
            "exp": now + 300,
            **self.tamper,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.sign_with or self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider(settings) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    stub = Provider()
    stub.claims = {
        "sub": "user-42",
        "email": "ada@example.org",
        "preferred_username": "ada",
        "given_name": "Ada",
        "groups": ["idp-developers", "idp-unmapped"],
    }
    # Every override goes through pytest-django's `settings`, one stack undone in
    # reverse: a test that also changes `settings` cannot restore the provider's values
    # after this fixture is gone (which once left single sign-on on for later tests).
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "bmadweb.oidc.OidcBackend",
    ]
    settings.OIDC_ISSUER = stub.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_GROUP_MAP = ["idp-developers=Developers", "idp-approvers=Approvers"]
    settings.OIDC_STAFF_GROUPS = ["idp-platform"]
    settings.OIDC_SUPERUSER_GROUPS = []
    discovery.cache_clear()
    yield stub
    discovery.cache_clear()
    stub.stop()


def sign_in(client, provider: Provider, next_url: str = "/") -> Any:  # type: ignore[no-untyped-def]
    """The browser's part: start at bmadweb, visit the provider, come back."""
    start = client.get("/oidc/authenticate/", {"next": next_url})
    assert start.status_code == 302, start.content
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["Location"])
    return client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})


def test_sign_in_creates_the_account_and_maps_groups_to_teams(client, provider):
    response = sign_in(client, provider, next_url="/")
    assert response.status_code == 302
    assert response["Location"] == "/"
    identity = OidcIdentity.objects.get()
    user = identity.user
    assert (identity.issuer, identity.subject) == (provider.issuer, "user-42")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert (user.username, user.email, user.first_name) == ("ada", "ada@example.org", "Ada")
    assert not user.has_usable_password()
    assert set(user.groups.values_list("name", flat=True)) == {"Developers"}
    assert not user.is_staff
    # The whole protocol was spoken: discovery, authorize, token, JWKS, userinfo.
    assert {"/.well-known/openid-configuration", "/authorize", "/token", "/jwks",
            "/userinfo"} <= set(provider.requests)  # fmt: skip
    login = AuditRecord.objects.filter(action="auth.login").latest("seq")
    assert audit_payload(login)["via"] == "oidc"
    assert audit_payload(login)["groups_added"] == ["Developers"]


def test_groups_follow_the_provider_at_every_sign_in(client, provider):
    sign_in(client, provider)
    user = OidcIdentity.objects.get().user
    by_hand = Group.objects.create(name="Given by hand")
    user.groups.add(by_hand)
    client.logout()
    provider.claims["groups"] = ["idp-approvers", "idp-platform"]
    sign_in(client, provider)
    user.refresh_from_db()
    assert set(user.groups.values_list("name", flat=True)) == {"Approvers", "Given by hand"}
    assert user.is_staff  # idp-platform
    assert OidcIdentity.objects.count() == 1  # the same account, found by its subject


def test_project_roles_granted_to_a_team_reach_its_members(client, provider, project, owner):
    from projects import services
    from projects.roles import Role

    team = Group.objects.create(name="Developers")
    services.role_grant(actor=owner, project=project, role=Role.VIEWER, group=team)
    sign_in(client, provider)
    assert client.get(f"/p/{project.slug}/").status_code == 200


def test_a_provider_account_never_takes_over_a_local_account(client, provider, staff):
    provider.claims["email"] = staff.email
    provider.claims["preferred_username"] = staff.username
    sign_in(client, provider)
    user = OidcIdentity.objects.get().user
    assert user.pk != staff.pk
    assert user.username == f"{staff.username}-2"
    assert not user.is_superuser


def test_local_break_glass_sign_in_still_works(client, provider, owner):
    page = client.get("/login/")
    assert "Sign in with single sign-on" in page.content.decode()
    response = client.post("/login/", {"username": "olivia", "password": "owner-pass-12345"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)
    assert "/token" not in provider.requests  # a password sign-in never asks the provider


@pytest.mark.parametrize(
    ("tamper", "what"),
    [
        ({"aud": "another-client"}, "audience"),
        ({"iss": "https://evil.example.org"}, "issuer"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"nonce": "not-the-nonce"}, "nonce"),
        ({"azp": "another-client", "aud": [CLIENT_ID, "another-client"]}, "azp"),
    ],
)
def test_an_id_token_that_does_not_verify_signs_nobody_in(client, provider, tamper, what):
    provider.tamper = tamper
    response = sign_in(client, provider)
    assert response.status_code == 302
    assert response["Location"] == "/login/?sso=failed", what
    assert "_auth_user_id" not in client.session
    assert not OidcIdentity.objects.exists()
    failed = AuditRecord.objects.filter(action="auth.login_failed").latest("seq")
    assert audit_payload(failed)["via"] == "oidc"


def test_a_token_signed_with_another_key_signs_nobody_in(client, provider):
    provider.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = sign_in(client, provider)
    assert response["Location"] == "/login/?sso=failed"
    assert "_auth_user_id" not in client.session


def test_userinfo_about_another_subject_signs_nobody_in(client, provider):
    provider.claims = {**provider.claims, "sub": "user-43"}
    provider.tamper = {"sub": "user-42"}
    response = sign_in(client, provider)
    assert response["Location"] == "/login/?sso=failed"
    assert not OidcIdentity.objects.exists()


def test_a_provider_that_fails_is_a_failed_sign_in_not_a_500(client, provider):
    provider.token_status = 500
    response = sign_in(client, provider)
    assert response.status_code == 302
    assert response["Location"] == "/login/?sso=failed"
    page = client.get(response["Location"])
    assert "Single sign-on did not complete" in page.content.decode()


def test_a_replayed_callback_is_refused(client, provider):
    start = client.get("/oidc/authenticate/")
    back = urlsplit(requests.get(start["Location"], allow_redirects=False, timeout=5)
                    .headers["Location"])  # fmt: skip
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert client.get(back.path, query)["Location"] == "/"
    client.logout()
    assert client.get(back.path, query)["Location"] == "/login/?sso=failed"


def test_without_an_issuer_the_routes_are_404(client):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/").status_code == 404


LONG_GROUP = "idp-" + "g" * 147  # 151 characters: longer than a group name may be


@pytest.mark.parametrize(
    ("claims", "username", "email", "groups"),
    [
        ({"groups": "idp-developers"}, "ada", "ada@example.org", {"Developers"}),
        ({"groups": 42}, "ada", "ada@example.org", set()),
        (
            {"groups": ["idp-approvers", 7, None, {"name": "idp-developers"}, ["x"], ""]},
            "ada",
            "ada@example.org",
            {"Approvers"},
        ),
        ({"groups": [LONG_GROUP, "idp-developers"]}, "ada", "ada@example.org", {"Developers"}),
        (
            {"preferred_username": "  ada lovelace/<script>\n"},
            "ada-lovelace-script",
            "ada@example.org",
            {"Developers"},
        ),
        ({"preferred_username": "a" * 400}, "a" * 142, "ada@example.org", {"Developers"}),
        ({"preferred_username": "/<>\t"}, "oidc-user", "ada@example.org", {"Developers"}),
        # Not a string, or with a NUL: ignored, the e-mail address names the account.
        ({"preferred_username": ["root"]}, "ada@example.org", "ada@example.org", {"Developers"}),
        ({"preferred_username": "root\x00"}, "ada@example.org", "ada@example.org", {"Developers"}),
        # An e-mail address with a NUL is dropped, and never names the account either.
        (
            {"preferred_username": None, "email": "ada\x00@evil.example"},
            "oidc-user-42",
            "",
            {"Developers"},
        ),
        ({"email": "ada@example.org\x00"}, "ada", "", {"Developers"}),
    ],
    ids=[
        "groups-string",
        "groups-number",
        "groups-non-string-items",
        "group-name-too-long",
        "username-odd-characters",
        "username-too-long",
        "username-nothing-usable",
        "username-not-a-string",
        "username-nul",
        "email-nul-no-username",
        "email-nul",
    ],
)
def test_hostile_claims_are_cleaned_not_a_500(
    client, provider, settings, claims, username, email, groups
):
    settings.OIDC_GROUP_MAP = [*settings.OIDC_GROUP_MAP, f"{LONG_GROUP}=Long"]
    provider.claims = {**provider.claims, **claims}
    response = sign_in(client, provider)
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = OidcIdentity.objects.get().user
    assert client.session["_auth_user_id"] == str(user.pk)
    assert (user.username, user.email) == (username, email)
    assert len(user.username) <= 150
    assert set(user.groups.values_list("name", flat=True)) == groups
