"""The admin for platform owners: URL policy errors, write-only credentials, read-only
audit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bmadweb.audit import audit_record
from projects.models import Project

pytestmark = pytest.mark.django_db


def _add_form(repo_url: str, **extra: str) -> dict[str, str]:
    return {
        "name": "Evil",
        "slug": "evil",
        "repo_url": repo_url,
        "default_branch": "main",
        "forge_kind": "github",
        "push_mode": "pull_request",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        **extra,
    }


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ext::sh -c touch% /tmp/pwned", "scheme"),
        ("http://169.254.169.254/latest", "scheme"),
        ("https://user:pass@github.com/org/repo.git", "credentials"),
    ],
)
def test_bad_repository_url_is_an_admin_error_naming_the_rule(client, staff, url, rule):
    client.force_login(staff)
    response = client.post(reverse("admin:projects_project_add"), _add_form(url))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["repo_url"]
    assert any("rule:" in e for e in errors), errors
    assert not Project.objects.filter(slug="evil").exists()


def test_local_path_is_refused_when_local_repos_are_off(client, staff, settings, tmp_path):
    settings.ALLOW_LOCAL_REPOS = False
    client.force_login(staff)
    response = client.post(reverse("admin:projects_project_add"), _add_form(str(tmp_path)))
    assert response.status_code == 200
    assert "repo_url" in response.context["adminform"].form.errors
    assert not Project.objects.exists()


def test_credentials_are_write_only_in_the_admin(client, staff, tmp_path):
    client.force_login(staff)
    response = client.post(
        reverse("admin:projects_project_add"),
        _add_form(str(tmp_path), secret_forge_token="canary-admin-tok-42"),
    )
    assert response.status_code == 302
    project = Project.objects.get(slug="evil")
    assert project.get_secret("forge_token") == "canary-admin-tok-42"
    page = client.get(reverse("admin:projects_project_change", args=[project.pk]))
    body = page.content.decode()
    assert "canary-admin-tok-42" not in body
    assert project.forge_token_enc not in body
    assert "Currently set" in body


def test_empty_credential_field_keeps_the_stored_value(client, staff, tmp_path):
    client.force_login(staff)
    client.post(
        reverse("admin:projects_project_add"),
        _add_form(str(tmp_path), secret_forge_token="keep-me-123456"),
    )
    project = Project.objects.get(slug="evil")
    client.post(
        reverse("admin:projects_project_change", args=[project.pk]),
        _add_form(str(tmp_path), name="Evil renamed"),
    )
    project.refresh_from_db()
    assert project.name == "Evil renamed"
    assert project.get_secret("forge_token") == "keep-me-123456"


def test_audit_records_are_read_only_in_the_admin(client, staff):
    record = audit_record(action="test.event", payload={"x": 1})
    client.force_login(staff)
    change = reverse("admin:bmadweb_auditrecord_change", args=[record.pk])
    page = client.get(change)
    assert page.status_code == 200
    assert "&quot;x&quot;: 1" in page.content.decode()
    assert client.get(reverse("admin:bmadweb_auditrecord_add")).status_code == 403
    delete = reverse("admin:bmadweb_auditrecord_delete", args=[record.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403


def test_guardian_object_permission_admin_is_available(client, staff, project):
    client.force_login(staff)
    url = reverse("admin:projects_project_permissions", args=[project.pk])
    assert client.get(url).status_code == 200
