"""Encryption at rest: row binding, rotation of many values, failing closed."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bmadweb import crypto
from bmadweb.services import keys_rotate
from projects.models import Project

pytestmark = pytest.mark.django_db


def test_ciphertext_copied_to_another_project_is_refused(project, make_project):
    other = make_project()
    project.set_secret("forge_token", "tok-AAAA-1111")
    project.save()
    other.forge_token_enc = project.forge_token_enc
    other.save()
    with pytest.raises(crypto.CryptoError, match="another record"):
        other.get_secret("forge_token")
    assert project.get_secret("forge_token") == "tok-AAAA-1111"


def test_ciphertext_moved_to_another_field_is_refused(project):
    project.set_secret("forge_token", "tok-BBBB-2222")
    project.clone_token_enc = project.forge_token_enc
    with pytest.raises(crypto.CryptoError):
        project.get_secret("clone_token")


def test_secrets_are_not_stored_in_clear(project):
    project.set_secret("clone_token", "canary-token-7f3a9c")
    project.save()
    raw = Project.objects.values_list("clone_token_enc", flat=True).get(pk=project.pk)
    assert raw
    assert "canary-token-7f3a9c" not in raw


def test_rotating_a_thousand_values_then_decrypting_with_new_key_alone(
    settings, project, local_repo_dir
):
    projects = [
        Project(name=f"P{i}", slug=f"p{i}", repo_url=str(local_repo_dir)) for i in range(200)
    ]
    for p in projects:
        for field in (
            "clone_token",
            "ssh_private_key",
            "forge_token",
            "webhook_secret",
            "webhook_secret_previous",
        ):
            p.set_secret(field, f"{field}-{p.slug}")
    Project.objects.bulk_create(projects)
    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, *settings.FERNET_KEYS]
    result = keys_rotate()
    assert result.project_values == 1000
    settings.FERNET_KEYS = [new_key]
    for p in Project.objects.filter(slug__startswith="p1"):
        assert p.get_secret("forge_token") == f"forge_token-{p.slug}"


def test_keys_usable_is_false_for_a_bad_ring(settings):
    assert crypto.keys_usable()
    settings.FERNET_KEYS = ["garbage"]
    assert not crypto.keys_usable()
