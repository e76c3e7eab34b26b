"""The demo seed: accounts shown once, a real bare repo, idempotent."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from projects.models import Project
from projects.roles import Role
from tests.repos import remote_branches, remote_commits

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_creates_accounts_project_and_bare_repo_once(settings, tmp_path, django_user_model):
    settings.VAR_DIR = tmp_path
    first = _seed()
    assert first.count("with password:") == 2
    admin = django_user_model.objects.get(username="admin")
    lead = django_user_model.objects.get(username="lead")
    assert admin.is_superuser
    assert not lead.is_staff
    project = Project.objects.get(slug="healthai")
    assert {m.role for m in project.memberships.filter(user=lead)} == {Role.OWNER}
    assert project.revisions.count() == 1
    bare = tmp_path / "demo" / "healthai.git"
    assert remote_branches(bare) == ["main"]
    assert len(remote_commits(bare, "main")) == 1
    second = _seed()
    assert "password" not in second
    assert Project.objects.count() == 1


def test_password_can_come_from_the_environment(settings, tmp_path, monkeypatch, django_user_model):
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("BMADWEB_ADMIN_PASSWORD", "from-env-pass-8812")
    out = _seed()
    assert "from-env-pass-8812" not in out
    assert django_user_model.objects.get(username="admin").check_password("from-env-pass-8812")


def test_demo_gap_report_shows_findings(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    _seed()
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("bmad", "analyze", "--project", "healthai", "--wait", stdout=out)
    assert exc.value.code == 1
    text = out.getvalue()
    assert "BMAD_MANAGED_FILE_EDITED" in text
    assert "BMAD_STALE_COMMAND_WRAPPERS" in text
