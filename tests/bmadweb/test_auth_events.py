"""Sign-in events: the login, logout and lockout views write their audit records through
bmadweb.services, and the lockout django-axes decides is audited there, once."""

from __future__ import annotations

from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from bmadweb import services
from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord

pytestmark = pytest.mark.django_db

GOOD = {"username": "olivia", "password": "owner-pass-12345"}
BAD = {"username": "olivia", "password": "wrong-guess-999"}


def _actions() -> list[str]:
    return list(AuditRecord.objects.order_by("seq").values_list("action", flat=True))


def _spy(name: str) -> mock._patch[mock.MagicMock]:
    """Patch the service the view module calls, still running the real one."""
    return mock.patch(f"bmadweb.auth_views.{name}", wraps=getattr(services, name))


def test_login_is_audited_through_the_service_and_clears_the_failures(client, owner):
    client.post(reverse("login"), BAD)
    assert AccessAttempt.objects.filter(username="olivia").exists()
    with _spy("auth_login_record") as spy:
        response = client.post(reverse("login"), GOOD)
    assert response.status_code == 302
    spy.assert_called_once_with(user=owner, address="127.0.0.1")
    record = AuditRecord.objects.get(action="auth.login")
    assert (record.actor_id, record.actor_name) == (owner.pk, "olivia")
    assert not AccessAttempt.objects.exists()  # axes forgets them on success


def test_failed_login_is_audited_through_the_service(client, owner):
    with _spy("auth_login_failure_record") as spy:
        client.post(reverse("login"), BAD)
    spy.assert_called_once_with(
        username="olivia", address="127.0.0.1", already_locked=False, locked=()
    )
    record = AuditRecord.objects.get(action="auth.login_failed")
    assert audit_payload(record) == {"username": "olivia", "address": "127.0.0.1"}
    assert record.actor_id is None


def test_logout_is_audited_through_the_service(client, owner):
    client.force_login(owner)
    with _spy("auth_logout_record") as spy:
        client.post(reverse("logout"))
    spy.assert_called_once()
    assert _actions() == ["auth.logout"]
    assert AuditRecord.objects.get(action="auth.logout").actor_id == owner.pk


def test_anonymous_logout_writes_nothing(client):
    client.post(reverse("logout"))
    assert _actions() == []


def test_the_failure_that_reaches_the_limit_locks_and_is_audited_once(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("login"), BAD)
    assert _actions() == ["auth.login_failed"] * 3 + ["auth.lockout"]
    lockout = audit_payload(AuditRecord.objects.get(action="auth.lockout"))
    assert lockout["username"] == "olivia"
    assert lockout["address"] == "127.0.0.1"
    assert lockout["locked"] == ["account_at_address"]
    assert "wrong-guess-999" not in str(lockout)
    # Refused while locked: audited as a failure, neither counted nor locked again.
    with _spy("auth_login_failure_record") as spy:
        response = client.post(reverse("login"), GOOD)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    spy.assert_called_once_with(
        username="olivia", address="127.0.0.1", already_locked=True, locked=()
    )
    assert _actions()[-1] == "auth.login_failed"
    assert _actions().count("auth.lockout") == 1
    assert AccessAttempt.objects.get(username="olivia").failures_since_start == 3


def test_the_account_counter_locks_the_account_from_every_address(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 3
    for address in ("192.0.2.7", "192.0.2.8", "192.0.2.9"):
        client.post(reverse("login"), BAD, REMOTE_ADDR=address)
    lockout = audit_payload(AuditRecord.objects.get(action="auth.lockout"))
    assert lockout["locked"] == ["account"]
    assert lockout["address"] == "192.0.2.9"
    response = client.post(reverse("login"), GOOD, REMOTE_ADDR="198.51.100.1")
    assert response.status_code == 429


def test_lockout_service_audits_only_what_was_locked():
    services.auth_login_failure_record(username="mallory", address="192.0.2.7")
    services.auth_login_failure_record(
        username="olivia", address="192.0.2.8", locked=["account_at_address"]
    )
    services.auth_login_failure_record(
        username="olivia", address="192.0.2.8", already_locked=True, locked=()
    )
    [lockout] = AuditRecord.objects.filter(action="auth.lockout")
    assert audit_payload(lockout)["locked"] == ["account_at_address"]
    assert audit_payload(lockout)["username"] == "olivia"
