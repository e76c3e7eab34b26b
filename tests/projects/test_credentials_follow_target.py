"""Credentials follow their target (docs/security.md#s8): moving a project's repository
to another host clears its clone token and SSH key, moving its forge API to another
address clears the forge token, and the page and the audit log say so. The same move
within one host keeps them."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse

from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord
from projects import services
from projects.services import forge_target, repo_target

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"


@pytest.fixture(autouse=True)
def _public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every *.example.org name resolves to a public address (the tests stay offline)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(host).endswith(".example.org"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def remote_project(owner):  # type: ignore[no-untyped-def]
    return services.project_create(
        actor=owner,
        name="Remote",
        slug="remote",
        repo_url="https://git.example.org/acme/app.git",
        forge_kind="github",
        forge_api_url="https://api.example.org/api/v3",
        secrets={"clone_token": "clone-0123456789", "ssh_private_key": "key-0123456789",
                 "forge_token": "forge-0123456789"},
    )  # fmt: skip


def _update(project, owner, **changes):  # type: ignore[no-untyped-def]
    fields = {f: getattr(project, f) for f in services.EDITABLE_FIELDS}
    return services.project_update(actor=owner, project=project, **{**fields, **changes})


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://git.example.org/acme/app.git", "git.example.org"),
        ("https://GIT.example.org:443/other/repo", "git.example.org"),
        ("ssh://git@git.example.org:22/acme/app.git", "git.example.org"),
        ("git@git.example.org:acme/app.git", "git.example.org"),
        ("/srv/git/app.git", "local:/srv/git/app.git"),
        ("file:///srv/git/app.git", "local:/srv/git/app.git"),
    ],
)
def test_the_target_of_a_repository_url_is_its_host(url, target):
    assert repo_target(url) == target


def test_the_forge_target_is_the_api_address_or_the_repository_host():
    assert forge_target("https://api.example.org/api/v3", "x") == "api.example.org:"
    assert forge_target("https://api.example.org:8443/v4", "x") == "api.example.org:8443"
    assert forge_target("", "https://git.example.org/a/b") == "repo:git.example.org"


def test_moving_the_repository_to_another_host_clears_its_credentials(remote_project, owner):
    updated = _update(remote_project, owner, repo_url="https://evil.example.org/acme/app.git")
    assert updated.credentials_cleared == ["clone_token", "ssh_private_key"]
    remote_project.refresh_from_db()
    assert not remote_project.has_secret("clone_token")
    assert not remote_project.has_secret("ssh_private_key")
    assert remote_project.get_secret("forge_token") == "forge-0123456789"  # its own address
    record = AuditRecord.objects.filter(action="project.update").latest("seq")
    assert audit_payload(record)["credentials_cleared"] == ["clone_token", "ssh_private_key"]


def test_another_path_on_the_same_host_keeps_the_credentials(remote_project, owner):
    updated = _update(remote_project, owner, repo_url="ssh://git@git.example.org/acme/other.git")
    assert updated.credentials_cleared == []
    remote_project.refresh_from_db()
    assert remote_project.get_secret("clone_token") == "clone-0123456789"


def test_moving_the_forge_api_clears_the_forge_token_only(remote_project, owner):
    updated = _update(remote_project, owner, forge_api_url="https://evil.example.org/api/v3")
    assert updated.credentials_cleared == ["forge_token"]
    remote_project.refresh_from_db()
    assert not remote_project.has_secret("forge_token")
    assert remote_project.get_secret("clone_token") == "clone-0123456789"


def test_a_derived_forge_address_moves_with_the_repository(remote_project, owner):
    _update(remote_project, owner, forge_api_url="")
    remote_project.refresh_from_db()
    remote_project.set_secret("forge_token", "forge-0123456789")
    remote_project.save()
    updated = _update(remote_project, owner, repo_url="https://evil.example.org/acme/app.git")
    assert "forge_token" in updated.credentials_cleared


def test_the_settings_page_says_which_credentials_were_cleared(client, remote_project, owner):
    client.force_login(owner)
    url = reverse("projects:project-settings", kwargs={"slug": remote_project.slug})
    data = {
        f: "" if getattr(remote_project, f) is None else getattr(remote_project, f)
        for f in services.EDITABLE_FIELDS
    }
    data.update(repo_url="https://evil.example.org/acme/app.git", require_approval="")
    response = client.post(url, data, follow=True)
    text = response.content.decode()
    assert "credentials made for the old one were cleared" in text
    assert "HTTPS token used to clone and push" in text
    remote_project.refresh_from_db()
    assert not remote_project.has_secret("clone_token")


def test_the_admin_clears_them_too(client, remote_project, staff):
    client.force_login(staff)
    url = reverse("admin:projects_project_change", args=[remote_project.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {
        name: (value if value is not None else "")
        for name, value in form.initial.items()
        if name in form.fields and not name.startswith(("secret_", "clear_"))
    }
    data.update(
        repo_url="https://evil.example.org/acme/app.git",
        **{"memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"},
    )
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    remote_project.refresh_from_db()
    assert remote_project.repo_url == "https://evil.example.org/acme/app.git"
    assert not remote_project.has_secret("clone_token")
