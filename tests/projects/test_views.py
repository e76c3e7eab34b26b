"""Sign-in, the project list and its empty state, through the real middleware stack."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bmadweb.models import AuditRecord

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("projects:project-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_and_logout_are_audited(client, owner):
    response = client.post(reverse("login"), {"username": "olivia", "password": "owner-pass-12345"})
    assert response.status_code == 302
    client.post(reverse("logout"))
    actions = list(AuditRecord.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["auth.login", "auth.logout"]


def test_failed_login_is_audited_without_the_password(client, owner):
    client.post(reverse("login"), {"username": "olivia", "password": "wrong-guess-999"})
    from bmadweb.audit import audit_payload

    record = AuditRecord.objects.get(action="auth.login_failed")
    assert audit_payload(record)["username"] == "olivia"
    assert "wrong-guess-999" not in str(audit_payload(record))


def test_lockout_after_repeated_failures_even_with_forged_forwarded_for(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for i in range(3):
        client.post(
            reverse("login"),
            {"username": "olivia", "password": "nope"},
            HTTP_X_FORWARDED_FOR=f"10.0.0.{i}",
        )
    response = client.post(
        reverse("login"),
        {"username": "olivia", "password": "owner-pass-12345"},
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_project_list_shows_only_permitted_projects(client, project, viewer, outsider):
    client.force_login(viewer)
    body = client.get(reverse("projects:project-list")).content.decode()
    assert "Health AI" in body
    client.force_login(outsider)
    body = client.get(reverse("projects:project-list")).content.decode()
    assert "Health AI" not in body
    assert "No projects yet" in body


def test_project_list_filter_has_its_own_empty_state(client, project, viewer):
    client.force_login(viewer)
    body = client.get(reverse("projects:project-list"), {"q": "zzz"}).content.decode()
    assert "No project matches" in body
    assert "Health AI" not in body


def test_project_detail_is_404_for_outsider_and_200_for_viewer(client, project, viewer, outsider):
    url = reverse("projects:project-detail", kwargs={"slug": project.slug})
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(viewer)
    assert client.get(url).status_code == 200


def test_pages_carry_a_strict_csp_and_vendored_assets(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("projects:project-list"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    body = response.content.decode()
    assert "/static/vendor/htmx/htmx-2.0.11.min.js" in body
    assert "<script>" not in body
    assert "style=" not in body


def test_logout_requires_post_with_csrf(owner):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(reverse("logout")).status_code == 403
