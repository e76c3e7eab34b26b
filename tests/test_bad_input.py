"""Bad input on every public way in gets a clear answer, never a server error: the run
form (400), the members and register forms (form errors, nothing saved), the API (422)
and `manage.py bmad` (exit code 2 with the reason)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from bmadweb.tokens import token_create
from projects.models import Membership, Project
from projects.roles import Role
from provisioning.models import Run
from tests.projects.creators import creators_group
from tests.provisioning.cli.cli_helpers import bmad
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client(client: Client) -> Client:
    """Server errors come back as responses (500) instead of exceptions, as in production."""
    client.raise_request_exception = False
    return client


# --- The run form -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bogus", "", "ANALYZE", "analyze ", "provision\x00", "é"])
def test_the_run_form_answers_a_bogus_kind_with_400_and_starts_nothing(
    client, bmad_project, owner, kind
):
    client.force_login(owner)
    response = client.post(
        reverse("provisioning:run-create", args=[bmad_project.slug]), {"kind": kind}
    )
    assert response.status_code == 400
    expected = (
        # a NUL never reaches the view: the unstorable-input middleware answers first
        "The request carries a NUL character or text that is not valid Unicode."
        if "\x00" in kind
        else "Choose what to run: analyze, provision or upgrade."
    )
    assert response.content.decode() == expected
    assert not Run.objects.exists()


def test_the_run_form_without_any_kind_is_400(client, bmad_project, owner):
    client.force_login(owner)
    response = client.post(reverse("provisioning:run-create", args=[bmad_project.slug]))
    assert response.status_code == 400
    assert not Run.objects.exists()


def test_a_bogus_kind_from_an_outsider_is_still_404(client, bmad_project, outsider):
    client.force_login(outsider)
    response = client.post(
        reverse("provisioning:run-create", args=[bmad_project.slug]), {"kind": "bogus"}
    )
    assert response.status_code == 404


# --- Members ------------------------------------------------------------------------


def _add_member(client, project, **data: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("projects:member-list", args=[project.slug]), data)


@pytest.mark.parametrize("role", ["superuser", "", "OWNER", "owner; drop table", "r" * 500])
def test_member_add_with_a_bad_role_is_a_form_error_and_grants_nothing(
    client, project, owner, outsider, role
):
    client.force_login(owner)
    before = set(Membership.objects.values_list("pk", flat=True))
    response = _add_member(client, project, who="oscar", kind="user", role=role)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["role"]
    assert set(Membership.objects.values_list("pk", flat=True)) == before
    assert not outsider.has_perm("projects.view_project", project)


def test_member_add_with_a_bad_principal_kind_is_a_form_error(client, project, owner, outsider):
    client.force_login(owner)
    response = _add_member(client, project, who="oscar", kind="robot", role=Role.VIEWER)
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["kind"]
    assert not outsider.has_perm("projects.view_project", project)


def test_member_add_naming_an_unknown_team_is_a_form_error(client, project, owner):
    client.force_login(owner)
    response = _add_member(client, project, who="no-such-team", kind="group", role=Role.VIEWER)
    assert response.status_code == 200
    assert response.context["form"].errors["who"] == [
        "No team named “no-such-team”. Platform owners create teams in the admin."
    ]


# --- Registering a repository -------------------------------------------------------


def _register(client, repo: Path, slug: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("projects:project-create"),
        {
            "name": "Another",
            "slug": slug,
            "repo_url": str(repo),
            "default_branch": "main",
            "forge_kind": "other",
            "push_mode": "branch",
        },
    )


def test_registering_a_taken_slug_is_a_form_error_and_keeps_the_first(
    client, project, outsider, tmp_path
):
    outsider.groups.add(creators_group())  # registering needs the project creator permission
    client.force_login(outsider)
    response = _register(client, tmp_path, project.slug)
    assert response.status_code == 200
    assert response.context["form"].errors["slug"] == ["Project with this Slug already exists."]
    assert list(Project.objects.values_list("name", flat=True)) == ["Health AI"]


@pytest.mark.parametrize(
    "slug",
    ["health ai", "héalth", "a/b", "../x", "", "x" * 65, "<script>", "a.b", "tab\there"],
)
def test_registering_a_malformed_slug_is_a_form_error_and_saves_nothing(
    client, outsider, tmp_path, slug
):
    outsider.groups.add(creators_group())  # registering needs the project creator permission
    client.force_login(outsider)
    response = _register(client, tmp_path, slug)
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["slug"]
    assert not Project.objects.exists()


# --- The API ------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"kind": "bogus"}, {}, {"kind": None}, {"kind": ["analyze"]}])
def test_the_api_answers_a_bogus_run_kind_with_422(bmad_project, owner, body: dict[str, Any]):
    token = token_create(user=owner, name="t", scopes=["read", "run"], expires_in_days=1)[1]
    api = Client(raise_request_exception=False)
    response = api.post(
        f"/api/v1/projects/{bmad_project.slug}/runs",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert not Run.objects.exists()


# --- manage.py bmad -----------------------------------------------------------------


def test_a_missing_manifest_file_is_exit_2_naming_it(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert bmad("validate", "--manifest", str(missing)) == (
        2,
        f"error: cannot read {missing}: No such file or directory\n",
    )


def test_a_manifest_that_is_not_utf8_is_exit_2(tmp_path):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(("# Sant\xe9\n" + DEMO_MANIFEST).encode("latin-1"))
    code, out = bmad("validate", "--manifest", str(latin1), "--format", "json")
    assert code == 2
    assert json.loads(out) == {"error": f"{latin1} is not UTF-8 text"}


def test_a_folder_given_as_the_manifest_is_exit_2(tmp_path):
    assert bmad("validate", "--manifest", str(tmp_path)) == (
        2,
        f"error: cannot read {tmp_path}: Is a directory\n",
    )


def test_an_empty_manifest_file_is_invalid_not_a_crash(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    code, out = bmad("validate", "--manifest", str(empty), "--format", "json")
    assert code == 1
    assert json.loads(out)["valid"] is False


def test_the_real_command_line_exits_2_for_a_missing_manifest(tmp_path):
    missing = tmp_path / "nope.yaml"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    proc = subprocess.run(
        [sys.executable, "manage.py", "bmad", "validate", "--manifest", str(missing)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == f"error: cannot read {missing}: No such file or directory\n"
    assert "Traceback" not in proc.stderr
