"""Personal API tokens: hashed at rest, shown once, scoped, expiring, revocable, and
managed only by their owner (docs/security.md#s24)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from bmadweb.audit import audit_payload
from bmadweb.models import ApiToken, AuditRecord
from bmadweb.tokens import (
    TokenError,
    token_authenticate,
    token_create,
    token_revoke,
)

pytestmark = pytest.mark.django_db


def _create(user, **kwargs):  # type: ignore[no-untyped-def]
    options = {"name": "ci", "scopes": ["read"], "expires_in_days": 30, **kwargs}
    return token_create(user=user, **options)


# --- Services ----------------------------------------------------------------------------


def test_token_is_stored_only_as_its_sha256(owner):
    token, plaintext = _create(owner)
    row = ApiToken.objects.values().get(pk=token.pk)
    assert row["token_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in json.dumps(row, default=str)


def test_token_has_prefix_and_256_bits_of_randomness(owner):
    _, first = _create(owner)
    _, second = _create(owner)
    assert first.startswith("bmw_")
    assert len(first) >= 4 + 43
    assert first != second


def test_prefix_identifies_the_token_without_revealing_it(owner):
    token, plaintext = _create(owner)
    assert plaintext.startswith(token.prefix)
    assert len(token.prefix) <= 12


def test_authenticate_returns_the_live_token(owner):
    token, plaintext = _create(owner)
    assert token_authenticate(plaintext) == token


@pytest.mark.parametrize(
    "raw", ["", "bmw_", "bmw_nope", "Bearer bmw_x", "x" * 5000, "bmw_" + "a" * 300]
)
def test_authenticate_refuses_unknown_tokens(owner, raw):
    _create(owner)
    assert token_authenticate(raw) is None


def test_authenticate_refuses_a_token_with_one_character_changed(owner):
    _, plaintext = _create(owner)
    altered = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert token_authenticate(altered) is None


def test_expired_token_authenticates_nothing(owner):
    token, plaintext = _create(owner)
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert token_authenticate(plaintext) is None


def test_revoked_token_authenticates_nothing(owner):
    token, plaintext = _create(owner)
    token_revoke(token=token, actor=owner)
    assert token_authenticate(plaintext) is None


def test_token_of_a_deactivated_user_authenticates_nothing(owner):
    _, plaintext = _create(owner)
    owner.is_active = False
    owner.save()
    assert token_authenticate(plaintext) is None


def test_last_used_is_written_at_most_once_a_minute(owner):
    token, plaintext = _create(owner)
    token_authenticate(plaintext)
    first = ApiToken.objects.get(pk=token.pk).last_used
    assert first is not None
    token_authenticate(plaintext)
    assert ApiToken.objects.get(pk=token.pk).last_used == first
    ApiToken.objects.filter(pk=token.pk).update(last_used=first - timedelta(minutes=2))
    token_authenticate(plaintext)
    assert ApiToken.objects.get(pk=token.pk).last_used > first - timedelta(minutes=2)


@pytest.mark.parametrize("days", [0, -1, 366])
def test_expiry_must_be_between_one_day_and_the_maximum(owner, days):
    with pytest.raises(TokenError, match="between 1 and 365"):
        _create(owner, expires_in_days=days)


def test_maximum_lifetime_follows_the_setting(owner):
    with override_settings(API_TOKEN_MAX_DAYS=7), pytest.raises(TokenError, match="1 and 7"):
        _create(owner, expires_in_days=8)


def test_unknown_or_empty_scopes_are_refused(owner):
    with pytest.raises(TokenError, match="Unknown scope"):
        _create(owner, scopes=["read", "admin"])
    with pytest.raises(TokenError, match="at least one"):
        _create(owner, scopes=[])


def test_scopes_are_stored_as_chosen(owner):
    token, _ = _create(owner, scopes=["write", "run"])
    assert token.scopes == ["write", "run"]
    assert not token.has_scope("read")


def test_create_and_revoke_are_audited_without_the_token(owner):
    token, plaintext = _create(owner)
    token_revoke(token=token, actor=owner)
    token_revoke(token=token, actor=owner)  # idempotent: one record only
    records = list(AuditRecord.objects.filter(action__startswith="token.").order_by("seq"))
    assert [r.action for r in records] == ["token.create", "token.revoke"]
    payloads = json.dumps([audit_payload(r) for r in records])
    assert token.prefix in payloads
    assert plaintext not in payloads
    assert token.token_hash not in payloads


# --- Pages -------------------------------------------------------------------------------


def test_token_pages_need_sign_in(client):
    response = client.get(reverse("account:token-list"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_created_token_is_shown_once_with_a_copy_hint(client, owner):
    client.force_login(owner)
    response = client.post(
        reverse("account:token-create"),
        {"name": "CI drift check", "scopes": ["read", "run"], "expires_in_days": "30"},
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(user=owner)
    body = response.content.decode()
    plaintext = re.search(r'id="new-token"[^>]*value="([^"]+)"', body)[1]  # type: ignore[index]
    assert plaintext.startswith(token.prefix)
    assert token_authenticate(plaintext) == token
    assert "shown only once" in body
    assert "no-store" in response["Cache-Control"]
    listing = client.get(reverse("account:token-list")).content.decode()
    assert token.prefix in listing
    assert plaintext not in listing


def test_token_list_shows_only_my_tokens(client, owner, viewer):
    _create(owner, name="olivia-token")
    _create(viewer, name="victor-token")
    client.force_login(owner)
    body = client.get(reverse("account:token-list")).content.decode()
    assert "olivia-token" in body
    assert "victor-token" not in body


def test_invalid_form_shows_errors_and_creates_nothing(client, owner):
    client.force_login(owner)
    response = client.post(
        reverse("account:token-create"),
        {"name": "", "scopes": ["root"], "expires_in_days": "9999"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "at most 365 days" in body
    assert ApiToken.objects.count() == 0


def test_owner_revokes_their_token_from_the_page(client, owner):
    token, plaintext = _create(owner)
    client.force_login(owner)
    response = client.post(reverse("account:token-revoke", args=[token.pk]))
    assert response.status_code == 302
    assert token_authenticate(plaintext) is None
    assert "revoked" in client.get(reverse("account:token-list")).content.decode()


def test_nobody_can_revoke_another_persons_token(client, owner, outsider):
    token, plaintext = _create(owner)
    client.force_login(outsider)
    response = client.post(reverse("account:token-revoke", args=[token.pk]))
    assert response.status_code == 404
    assert token_authenticate(plaintext) == token


def test_revoke_needs_post(client, owner):
    token, plaintext = _create(owner)
    client.force_login(owner)
    response = client.get(reverse("account:token-revoke", args=[token.pk]))
    assert response.status_code == 405
    assert token_authenticate(plaintext) == token


def test_revoke_of_an_unknown_token_is_404(client, owner):
    client.force_login(owner)
    assert client.post(reverse("account:token-revoke", args=[987654])).status_code == 404


# --- Admin -------------------------------------------------------------------------------


def test_admin_shows_the_hash_never_the_token_and_revokes(client, owner, staff):
    token, plaintext = _create(owner)
    client.force_login(staff)
    page = client.get(reverse("admin:bmadweb_apitoken_change", args=[token.pk]))
    assert page.status_code == 200
    assert token.token_hash in page.content.decode()
    assert plaintext not in page.content.decode()
    response = client.post(
        reverse("admin:bmadweb_apitoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    assert token_authenticate(plaintext) is None
    assert AuditRecord.objects.filter(action="token.revoke").count() == 1
