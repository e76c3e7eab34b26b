"""The admin for platform owners: URL policy errors, write-only credentials, read-only
audit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bmadweb.audit import audit_payload, audit_record
from bmadweb.models import AuditRecord
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


# --- The admin calls the project services --------------------------------------------


def _change_form(project: Project, memberships: list[dict[str, str]] | None = None, **extra):
    """The change form as the admin posts it: the project's fields and its role rows."""
    rows = memberships if memberships is not None else []
    data = {
        "name": project.name,
        "repo_url": project.repo_url,
        "default_branch": project.default_branch,
        "forge_kind": project.forge_kind,
        "forge_api_url": project.forge_api_url,
        "push_mode": project.push_mode,
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(sum(1 for r in rows if r.get("id"))),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        **extra,
    }
    if project.require_approval:
        data["require_approval"] = "on"
    for i, row in enumerate(rows):
        for key, value in {"project": str(project.pk), **row}.items():
            data[f"memberships-{i}-{key}"] = value
    return data


def _rows(project: Project) -> list[dict[str, str]]:
    return [
        {
            "id": str(m.pk),
            "user": str(m.user_id or ""),
            "group": str(m.group_id or ""),
            "role": m.role,
        }
        for m in project.memberships.order_by("id")
    ]


def _last(action: str) -> AuditRecord:
    record = AuditRecord.objects.filter(action=action).order_by("-seq").first()
    assert record is not None, f"no {action} record"
    return record


def test_a_clone_token_set_in_the_admin_is_audited_like_the_credentials_page(
    client, staff, owner, project
):
    change = reverse("admin:projects_project_change", args=[project.pk])
    client.force_login(staff)
    response = client.post(
        change, _change_form(project, _rows(project), secret_clone_token="canary-clone-77")
    )
    assert response.status_code == 302
    from_admin = _last("credential.set")
    client.force_login(owner)
    client.post(
        reverse("projects:project-credentials", kwargs={"slug": project.slug}),
        {"clone_token": "canary-clone-88"},
    )
    from_page = _last("credential.set")
    assert from_admin.seq < from_page.seq
    assert audit_payload(from_admin) == audit_payload(from_page) == {"field": "clone_token"}
    assert (from_admin.actor_name, from_page.actor_name) == ("stella", "olivia")
    project.refresh_from_db()
    assert project.get_secret("clone_token") == "canary-clone-88"
    assert "canary-clone" not in project.clone_token_enc
    assert not AuditRecord.objects.filter(action="project.update").exists()


def test_admin_changes_are_audited_by_project_update(client, staff, project):
    client.force_login(staff)
    change = reverse("admin:projects_project_change", args=[project.pk])
    client.post(change, _change_form(project, _rows(project), name="Health AI 2"))
    project.refresh_from_db()
    assert project.name == "Health AI 2"
    record = _last("project.update")
    assert record.actor_name == "stella"
    assert audit_payload(record) == {
        "changes": {"name": {"from": "Health AI", "to": "Health AI 2"}}
    }


def test_admin_add_goes_through_project_create(client, staff, tmp_path):
    client.force_login(staff)
    response = client.post(
        reverse("admin:projects_project_add"),
        _add_form(str(tmp_path), secret_clone_token="canary-clone-99"),
    )
    assert response.status_code == 302
    project = Project.objects.get(slug="evil")
    actions = list(AuditRecord.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["project.create", "role.grant", "credential.set"]
    assert audit_payload(_last("credential.set")) == {"field": "clone_token"}
    assert project.get_secret("clone_token") == "canary-clone-99"
    # As on the create page, the creator owns the project.
    assert project.memberships.get().user == staff


def test_webhook_secrets_cannot_be_typed_in_the_admin_only_cleared(client, staff, project):
    from projects import services

    services.webhook_secret_regenerate(actor=None, project=project)
    client.force_login(staff)
    change = reverse("admin:projects_project_change", args=[project.pk])
    page = client.get(change).content.decode()
    assert 'name="secret_webhook_secret"' not in page
    assert 'name="secret_clone_token"' in page
    assert reverse("projects:project-webhook", kwargs={"slug": project.slug}) in page
    typed = _change_form(project, _rows(project), secret_webhook_secret="typed-by-hand-123")
    client.post(change, typed)
    project.refresh_from_db()
    assert project.get_secret("webhook_secret") != "typed-by-hand-123"
    client.post(change, _change_form(project, _rows(project), clear_webhook_secret="on"))
    project.refresh_from_db()
    assert not project.has_secret("webhook_secret")
    assert audit_payload(_last("credential.clear")) == {"field": "webhook_secret"}


def test_the_slug_is_set_once(client, staff, project):
    client.force_login(staff)
    change = reverse("admin:projects_project_change", args=[project.pk])
    response = client.post(change, _change_form(project, _rows(project), slug="renamed"))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.slug == "healthai"


def test_admin_role_edits_go_through_the_role_services(client, staff, project, viewer, outsider):
    from projects.roles import Role

    client.force_login(staff)
    change = reverse("admin:projects_project_change", args=[project.pk])
    rows = _rows(project)
    viewer_row = next(r for r in rows if r["role"] == "viewer")
    viewer_row["role"] = "editor"  # a changed row: grant the new role, revoke the old
    rows.append({"user": str(outsider.pk), "group": "", "role": "operator"})  # a new row
    response = client.post(change, _change_form(project, rows))
    assert response.status_code == 302
    roles = {(m.user.username, m.role) for m in project.memberships.all()}
    assert roles == {("olivia", "owner"), ("victor", "editor"), ("oscar", "operator")}
    assert viewer.has_perm("projects.edit_manifest", project)
    assert outsider.has_perm("projects.provision_project", project)
    grants = [
        audit_payload(r)
        for r in AuditRecord.objects.filter(action="role.grant", actor_name="stella")
    ]
    assert sorted(grants, key=str) == sorted(
        [{"role": "editor", "user": "victor"}, {"role": "operator", "user": "oscar"}], key=str
    )
    assert audit_payload(_last("role.revoke")) == {"role": "viewer", "user": "victor"}
    # Deleting a row revokes through the service too.
    rows = _rows(project)
    next(r for r in rows if r["role"] == Role.OPERATOR)["DELETE"] = "on"
    client.post(change, _change_form(project, rows))
    assert not outsider.has_perm("projects.view_project", project)
    assert audit_payload(_last("role.revoke")) == {"role": "operator", "user": "oscar"}


def test_the_admin_shows_the_last_owner_error_and_keeps_the_owner(client, staff, owner, project):
    client.force_login(staff)
    change = reverse("admin:projects_project_change", args=[project.pk])
    rows = _rows(project)
    next(r for r in rows if r["role"] == "owner")["DELETE"] = "on"
    response = client.post(change, _change_form(project, rows, name="Renamed"), follow=True)
    assert response.status_code == 200
    assert "A project keeps at least one owner" in response.content.decode()
    assert project.memberships.filter(role="owner", user=owner).exists()
    assert owner.has_perm("projects.manage_project", project)
    project.refresh_from_db()
    assert project.name == "Renamed"  # the rest of the form was saved


def test_handing_the_owner_role_on_in_one_save_keeps_an_owner(client, staff, owner, project):
    client.force_login(staff)
    change = reverse("admin:projects_project_change", args=[project.pk])
    rows = _rows(project)
    next(r for r in rows if r["role"] == "owner")["user"] = str(staff.pk)
    assert client.post(change, _change_form(project, rows)).status_code == 302
    owners = project.memberships.filter(role="owner")
    assert [m.user for m in owners] == [staff]


def test_bulk_delete_in_the_admin_goes_through_project_delete(client, staff, tmp_path):
    from projects import services

    # No role rows: the admin refuses to delete those (Membership rows are not deletable
    # there), so an ownerless project is what the bulk action can delete.
    project = services.project_create(
        actor=None, name="Health AI", slug="healthai", repo_url=str(tmp_path)
    )
    client.force_login(staff)
    response = client.post(
        reverse("admin:projects_project_changelist"),
        {"action": "delete_selected", "_selected_action": [project.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Project.objects.exists()
    record = _last("project.delete")
    assert (record.actor_name, audit_payload(record)["slug"]) == ("stella", "healthai")
