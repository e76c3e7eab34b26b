"""Sign-in events: the login, logout and lockout views write their audit records through
bmadweb.services, and the lockout is counted and audited there."""

from __future__ import annotations

from unittest import mock

import pytest
from django.urls import reverse

from bmadweb import services
from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord, LoginThrottle
from bmadweb.selectors import login_locked

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
    assert LoginThrottle.objects.filter(key="user:olivia").exists()
    with _spy("auth_login_record") as spy:
        response = client.post(reverse("login"), GOOD)
    assert response.status_code == 302
    spy.assert_called_once_with(user=owner, address="127.0.0.1")
    record = AuditRecord.objects.get(action="auth.login")
    assert (record.actor_id, record.actor_name) == (owner.pk, "olivia")
    assert not LoginThrottle.objects.exists()


def test_failed_login_is_audited_through_the_service(client, owner):
    with _spy("auth_login_failure_record") as spy:
        client.post(reverse("login"), BAD)
    spy.assert_called_once_with(username="olivia", address="127.0.0.1", already_locked=False)
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
    assert lockout["locked"] == ["username", "address"]
    assert "wrong-guess-999" not in str(lockout)
    assert login_locked(username="olivia", address="192.0.2.1")
    # Refused while locked: audited as a failure, neither counted nor locked again.
    with _spy("auth_login_failure_record") as spy:
        response = client.post(reverse("login"), GOOD)
    assert "Too many failed sign-ins" in response.content.decode()
    spy.assert_called_once_with(username="olivia", address="127.0.0.1", already_locked=True)
    assert _actions()[-1] == "auth.login_failed"
    assert _actions().count("auth.lockout") == 1
    assert LoginThrottle.objects.get(key="user:olivia").failures == 3


def test_lockout_service_locks_only_what_reached_the_limit(settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    services.auth_login_failure_record(username="mallory", address="192.0.2.7")
    services.auth_login_failure_record(username="olivia", address="192.0.2.8")
    services.auth_login_failure_record(username="olivia", address="192.0.2.9")
    lockout = AuditRecord.objects.get(action="auth.lockout")
    assert audit_payload(lockout)["locked"] == ["username"]
    assert login_locked(username="OLIVIA ", address="198.51.100.1")
    assert not login_locked(username="mallory", address="192.0.2.9")


def test_a_failure_after_the_window_starts_counting_again(settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    services.auth_login_failure_record(username="olivia", address="192.0.2.8")
    LoginThrottle.objects.update(first_failure="2000-01-01T00:00:00Z")
    services.auth_login_failure_record(username="olivia", address="192.0.2.8")
    assert not AuditRecord.objects.filter(action="auth.lockout").exists()
    assert not login_locked(username="olivia", address="192.0.2.8")
