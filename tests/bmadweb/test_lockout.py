"""The sign-in lockout on django-axes (docs/security.md#s23): one counter per account
whatever its spelling, per (account, client address) and per account, the client
address taken through trusted proxies only, and every sign-in door throttled."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from bmadweb.lockout import normalise_username
from bmadweb.proxies import client_address

pytestmark = pytest.mark.django_db

LOGIN = "/login/"


def fullwidth(text: str) -> str:
    """The look-alike spelling in fullwidth letters (U+FF01 onwards)."""
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


def _fail(client, username: str, address: str = "127.0.0.1", **headers: str) -> int:
    response = client.post(
        LOGIN, {"username": username, "password": "wrong"}, REMOTE_ADDR=address, **headers
    )
    return response.status_code


def _sign_in(client, address: str = "127.0.0.1", **headers: str):
    return client.post(
        LOGIN,
        {"username": "olivia", "password": "owner-pass-12345"},
        REMOTE_ADDR=address,
        **headers,
    )


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("olivia", "olivia"),
        ("OLIVIA", "olivia"),
        ("  Olivia ", "olivia"),
        (fullwidth("olivia"), "olivia"),  # NFKC folds it
        (fullwidth("OLIVIA"), "olivia"),
        ("Straße", "strasse"),  # case folding, not lower()
        ("ﬁona", "fiona"),  # the "fi" ligature
    ],
)
def test_look_alike_spellings_share_one_key(spelling, key):
    assert normalise_username(spelling) == key


def test_look_alike_spellings_share_one_counter(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for spelling in ("olivia", "OLIVIA", fullwidth("olivia")):
        _fail(client, spelling)
    response = _sign_in(client)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_sign_in_page_is_throttled_too(client, staff, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    url = reverse("admin:login")
    for _ in range(2):
        client.post(url, {"username": "stella", "password": "wrong"})
    response = client.post(url, {"username": "stella", "password": "staff-pass-12345"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_typos_behind_a_shared_proxy_lock_only_that_account(client, owner, viewer, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    for _ in range(5):
        _fail(client, "victor", "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    # Olivia, behind the same proxy, signs in as usual.
    response = _sign_in(client, "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert response.status_code == 302


def test_one_address_locks_the_account_at_that_address_only(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 10
    for _ in range(3):
        _fail(client, "olivia", "203.0.113.5")
    assert _sign_in(client, "203.0.113.5").status_code == 429
    assert _sign_in(client, "203.0.113.6").status_code == 302


def test_failures_from_many_addresses_lock_the_account_everywhere(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 6
    for i in range(6):
        _fail(client, "olivia", f"203.0.113.{i + 1}")
    assert _sign_in(client, "198.51.100.99").status_code == 429


def test_a_success_clears_the_counters(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        _fail(client, "olivia")
    assert _sign_in(client).status_code == 302
    client.post(reverse("logout"))
    for _ in range(2):
        _fail(client, "olivia")
    assert _sign_in(client).status_code == 302


def test_a_forged_forwarded_for_does_not_dodge_the_lockout(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    for i in range(3):
        _fail(client, "olivia", "203.0.113.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    response = _sign_in(client, "203.0.113.9", HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert response.status_code == 429


def _address(remote: str, forwarded: str | None = None) -> str:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **meta))


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.1", "198.51.100.1", "203.0.113.1"),  # peer is no proxy: header ignored
        ("10.0.0.1", "198.51.100.1", "198.51.100.1"),  # one trusted proxy
        ("10.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # forged hop on the left
        ("10.0.0.1", "198.51.100.1, 10.0.0.2", "198.51.100.1"),  # two trusted proxies
        ("10.0.0.1", "not-an-address", "10.0.0.1"),  # garbage: stay at the proxy
        ("10.0.0.1", "", "10.0.0.1"),
        ("10.0.0.1", None, "10.0.0.1"),
        ("::ffff:203.0.113.4", None, "203.0.113.4"),
    ],
)
def test_client_address_believes_trusted_proxies_only(settings, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert _address(remote, forwarded) == expected


def test_without_trusted_proxies_the_header_is_never_read(settings):
    settings.TRUSTED_PROXIES = []
    assert _address("10.0.0.1", "198.51.100.1") == "10.0.0.1"


def test_failed_sign_in_audit_names_the_client_behind_the_proxy(client, owner, settings):
    from bmadweb.audit import audit_payload
    from bmadweb.models import AuditRecord

    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    _fail(client, "olivia", "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.42")
    record = AuditRecord.objects.get(action="auth.login_failed")
    assert audit_payload(record)["address"] == "198.51.100.42"


def test_a_peer_without_an_address_is_counted_without_one(client, owner, settings):
    """A unix-socket peer has no address: axes stores none (an empty string would not fit
    PostgreSQL's address column) and the account counter still counts."""
    settings.LOGIN_FAILURE_LIMIT = 2
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 2
    assert [_fail(client, "olivia", "") for _ in range(2)] == [200, 429]  # locked at 2
    assert _sign_in(client, "").status_code == 429
