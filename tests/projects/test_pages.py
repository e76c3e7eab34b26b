"""The team lead's pages: forms, permissions, write-only secrets, HTMX partials."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from projects import services
from projects.models import Project
from projects.roles import Role
from provisioning.models import Run, RunKind, RunStatus
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


def url(name: str, **kwargs: object) -> str:
    return reverse(name, kwargs=kwargs)


def _creator(user):  # registering repositories needs the project creator permission
    from tests.projects.creators import creators_group

    user.groups.add(creators_group())
    return user


def test_register_project_makes_the_creator_owner(client, outsider, tmp_path):
    client.force_login(_creator(outsider))
    response = client.post(
        url("projects:project-create"),
        {
            "name": "Mine",
            "slug": "mine",
            "repo_url": str(tmp_path),
            "default_branch": "main",
            "forge_kind": "other",
            "push_mode": "branch",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url("projects:manifest-edit", slug="mine")
    project = Project.objects.get(slug="mine")
    assert outsider.has_perm("projects.manage_project", project)


@pytest.mark.parametrize(
    "bad",
    [
        "ext::sh -c 'touch /tmp/x'",
        "--upload-pack=/bin/sh",
        "https://127.1/org/repo.git",
        "http://github.com/a/b.git",
    ],
)
def test_register_with_bad_url_shows_the_rule_inline_and_saves_nothing(client, outsider, bad):
    client.force_login(_creator(outsider))
    response = client.post(
        url("projects:project-create"),
        {
            "name": "Bad",
            "slug": "bad",
            "repo_url": bad,
            "default_branch": "main",
            "forge_kind": "other",
            "push_mode": "branch",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "rule:" in body
    assert 'aria-invalid="true"' in body
    assert not Project.objects.filter(slug="bad").exists()


def test_viewer_cannot_open_settings_and_outsider_gets_404(client, project, viewer, outsider):
    client.force_login(viewer)
    assert client.get(url("projects:project-settings", slug=project.slug)).status_code == 403
    client.force_login(outsider)
    assert client.get(url("projects:project-settings", slug=project.slug)).status_code == 404


def test_invalid_settings_are_not_saved(client, project, owner):
    client.force_login(owner)
    response = client.post(
        url("projects:project-settings", slug=project.slug),
        {
            "name": "Renamed",
            "repo_url": "ext::sh -c id",
            "default_branch": "main",
            "forge_kind": "other",
            "push_mode": "branch",
        },
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert project.name == "Health AI"


def test_credentials_are_write_only(client, project, owner):
    client.force_login(owner)
    client.post(
        url("projects:project-credentials", slug=project.slug),
        {"forge_token": "canary-ui-token-99812"},
    )
    project.refresh_from_db()
    assert project.get_secret("forge_token") == "canary-ui-token-99812"
    page = client.get(url("projects:project-credentials", slug=project.slug)).content.decode()
    assert "canary-ui-token-99812" not in page
    assert "set" in page
    client.post(url("projects:project-credentials", slug=project.slug), {"clear_forge_token": "on"})
    project.refresh_from_db()
    assert not project.has_secret("forge_token")


def test_webhook_secrets_are_generated_never_typed(project, owner, local_repo_dir):
    with pytest.raises(ValueError, match="generated"):
        services.project_secret_set(
            actor=owner, project=project, field="webhook_secret", value="typed-123"
        )
    with pytest.raises(ValueError, match="generated"):
        services.project_create(
            actor=owner,
            name="Typed",
            slug="typed",
            repo_url=str(local_repo_dir),
            secrets={"webhook_secret": "typed-123"},
        )
    services.webhook_secret_regenerate(actor=owner, project=project)
    services.project_secret_set(actor=owner, project=project, field="webhook_secret", value="")
    assert not project.has_secret("webhook_secret")


def test_webhook_secret_is_shown_once(client, project, owner):
    client.force_login(owner)
    client.post(url("projects:webhook-regenerate", slug=project.slug))
    project.refresh_from_db()
    secret = project.get_secret("webhook_secret")
    first = client.get(url("projects:project-webhook", slug=project.slug)).content.decode()
    second = client.get(url("projects:project-webhook", slug=project.slug)).content.decode()
    assert secret in first
    assert secret not in second
    assert f"/hooks/github/{project.uid}/" in second


def test_members_can_be_added_and_the_last_owner_stays(client, project, owner, outsider):
    client.force_login(owner)
    response = client.post(
        url("projects:member-list", slug=project.slug),
        {"who": "oscar", "kind": "user", "role": "editor"},
    )
    assert response.status_code == 302
    assert outsider.has_perm("projects.edit_manifest", project)
    unknown = client.post(
        url("projects:member-list", slug=project.slug),
        {"who": "nobody", "kind": "user", "role": "viewer"},
    )
    assert "No user named" in unknown.content.decode()
    owner_row = project.memberships.get(role=Role.OWNER)
    refused = client.post(
        url("projects:member-remove", slug=project.slug, membership_id=owner_row.pk), follow=True
    )
    assert refused.status_code == 200
    assert services.LAST_OWNER_MESSAGE in refused.content.decode()
    assert project.memberships.filter(role=Role.OWNER).exists()


def test_delete_needs_the_slug_typed(client, project, owner):
    client.force_login(owner)
    wrong = client.post(url("projects:project-delete", slug=project.slug), {"confirm_slug": "nope"})
    assert wrong.status_code == 200
    assert Project.objects.filter(pk=project.pk).exists()
    client.post(url("projects:project-delete", slug=project.slug), {"confirm_slug": project.slug})
    assert not Project.objects.filter(pk=project.pk).exists()


def test_manifest_save_with_errors_keeps_nothing_and_lists_lines(client, project, owner):
    client.force_login(owner)
    bad = DEMO_MANIFEST.replace("id: dev-leader", "id: Dev_Leader")
    response = client.post(
        url("projects:manifest-edit", slug=project.slug), {"yaml_text": bad, "message": "oops"}
    )
    assert response.status_code == 200
    assert "Line 8, column 9" in response.content.decode()
    assert project.revisions.count() == 0
    ok = client.post(
        url("projects:manifest-edit", slug=project.slug),
        {"yaml_text": DEMO_MANIFEST, "message": "first"},
    )
    assert ok.status_code == 302
    assert project.revisions.get().message == "first"


def test_viewer_cannot_save_a_manifest(client, project, viewer):
    client.force_login(viewer)
    response = client.post(
        url("projects:manifest-edit", slug=project.slug), {"yaml_text": DEMO_MANIFEST}
    )
    assert response.status_code == 403
    assert project.revisions.count() == 0


@pytest.mark.parametrize(
    "hostile",
    [
        "a: &a [1]\nb: *a\n",
        "!!python/object/apply:os.system ['touch /tmp/pwn']\n",
        "[" * 2000,
        "x: 1\nx: 2\n",
        "\x01binary",
    ],
)
def test_live_validation_handles_hostile_yaml(client, project, viewer, hostile):
    client.force_login(viewer)
    response = client.post(
        url("projects:manifest-validate", slug=project.slug),
        {"yaml_text": hostile},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "error-list" in response.content.decode()


def test_a_nul_in_the_manifest_text_is_400_before_validation(client, project, viewer):
    """NUL is refused for every form field (docs/security.md#s23), the editor's included."""
    client.force_login(viewer)
    response = client.post(
        url("projects:manifest-validate", slug=project.slug),
        {"yaml_text": "\x00\x01binary"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_live_validation_of_huge_text_is_a_clear_error(client, project, viewer):
    client.force_login(viewer)
    response = client.post(
        url("projects:manifest-validate", slug=project.slug),
        {"yaml_text": "a: " + "x" * 300_000},
        HTTP_HX_REQUEST="true",
    )
    assert "larger than 256 KiB" in response.content.decode()


def test_preview_lists_generated_files(client, project, viewer):
    client.force_login(viewer)
    response = client.post(
        url("projects:manifest-preview", slug=project.slug),
        {"yaml_text": DEMO_MANIFEST},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert ".claude/skills/frontend-specialist/SKILL.md" in body
    assert "<html" not in body  # a partial, not the page


def test_history_compares_two_revisions_side_by_side(client, project, owner):
    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST)
    services.manifest_save(
        actor=owner, project=project, yaml_text=DEMO_MANIFEST.replace("Dev Leader", "Lead Dev")
    )
    client.force_login(owner)
    body = client.get(
        url("projects:manifest-compare", slug=project.slug), {"a": 1, "b": 2}
    ).content.decode()
    assert "diff-del" in body
    assert "diff-add" in body
    assert "Lead Dev" in body
    assert (
        client.get(
            url("projects:manifest-compare", slug=project.slug), {"a": "x", "b": 2}
        ).status_code
        == 404
    )


def test_json_schema_is_served():
    response = Client().get(url("projects:manifest-schema"))
    assert response.status_code == 200
    assert "leaders" in json.loads(response.content)["properties"]


def test_dashboard_filters_by_status_and_search(client, project, viewer):
    client.force_login(viewer)
    body = client.get(url("projects:project-list"), {"status": "in_sync"}).content.decode()
    assert "Health AI" not in body
    body = client.get(url("projects:project-list"), {"q": "health"}).content.decode()
    assert "Health AI" in body
    partial = client.get(
        url("projects:project-list"), {"q": "health"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="results"' in partial
    assert "<html" not in partial


def test_viewer_cannot_start_runs_and_editor_can_analyze(client, bmad_project, viewer, outsider):
    services.role_grant(actor=None, project=bmad_project, role=Role.VIEWER, user=viewer)
    client.force_login(viewer)
    response = client.post(
        url("provisioning:run-create", slug=bmad_project.slug), {"kind": "analyze"}
    )
    assert response.status_code == 403
    services.role_grant(actor=None, project=bmad_project, role=Role.EDITOR, user=outsider)
    client.force_login(outsider)
    response = client.post(
        url("provisioning:run-create", slug=bmad_project.slug), {"kind": "analyze"}
    )
    assert response.status_code == 302
    assert Run.objects.get().kind == RunKind.ANALYZE
    busy = client.post(
        url("provisioning:run-create", slug=bmad_project.slug), {"kind": "analyze"}, follow=True
    )
    assert "busy" in busy.content.decode()


def test_operator_cannot_approve_unless_approver(client, bmad_project, outsider):
    services.role_grant(actor=None, project=bmad_project, role=Role.OPERATOR, user=outsider)
    run = Run.objects.create(
        project=bmad_project, kind=RunKind.PROVISION, status=RunStatus.AWAITING_APPROVAL
    )
    client.force_login(outsider)
    approve = url("provisioning:run-approve", slug=bmad_project.slug, run_id=run.pk)
    assert client.post(approve).status_code == 403
    page = client.get(run.get_absolute_url()).content.decode()
    assert "Approve and apply" not in page
    services.role_grant(actor=None, project=bmad_project, role=Role.APPROVER, user=outsider)
    assert client.post(approve).status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.APPLYING


def test_live_region_polls_only_while_the_run_is_active(client, bmad_project, owner):
    run = Run.objects.create(project=bmad_project, kind=RunKind.ANALYZE, status=RunStatus.RUNNING)
    client.force_login(owner)
    live = url("provisioning:run-live", slug=bmad_project.slug, run_id=run.pk)
    assert 'hx-trigger="every 2s"' in client.get(live).content.decode()
    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    assert "hx-trigger" not in client.get(live).content.decode()


def test_run_of_another_project_is_404(client, bmad_project, owner, make_project):
    other = make_project(actor=None)
    run = Run.objects.create(project=other, kind=RunKind.ANALYZE)
    client.force_login(owner)
    assert (
        client.get(
            url("provisioning:run-detail", slug=bmad_project.slug, run_id=run.pk)
        ).status_code
        == 404
    )


def test_owner_sees_the_project_audit_decrypted(client, project, owner):
    client.force_login(owner)
    body = client.get(url("projects:project-audit", slug=project.slug)).content.decode()
    assert "project.create" in body
    assert "role.grant" in body


def test_an_unreadable_audit_payload_is_named_on_the_page_and_in_the_admin(
    client, project, owner, staff
):
    from bmadweb.models import AuditRecord

    record = AuditRecord.objects.filter(project=project).order_by("seq").first()
    AuditRecord.objects.filter(pk=record.pk).update(payload_enc="not-a-fernet-token")
    client.force_login(owner)
    page = client.get(url("projects:project-audit", slug=project.slug))
    assert page.status_code == 200
    assert "cannot decrypt this payload" in page.content.decode()
    client.force_login(staff)
    admin_page = client.get(reverse("admin:bmadweb_auditrecord_change", args=[record.pk]))
    assert admin_page.status_code == 200
    assert "&lt;cannot decrypt:" in admin_page.content.decode()


def test_webhook_page_lists_deliveries_and_replays_one(
    client, project, owner, django_capture_on_commit_callbacks
):
    from tests.provisioning.webhooks.webhook_helpers import (
        body_of,
        deliver,
        push_payload,
        signed_headers,
    )

    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST)
    secret = services.webhook_secret_regenerate(actor=owner, project=project)
    project.refresh_from_db()
    body = body_of(push_payload("github", project.repo_url, ref="refs/heads/feature"))
    assert (
        deliver(
            Client(), project, "github", body, signed_headers("github", body, secret)
        ).status_code
        < 300
    )
    client.force_login(owner)
    page = client.get(url("projects:project-webhook", slug=project.slug)).content.decode()
    assert "badge-delivery-ignored" in page
    assert "refs/heads/feature" in page
    from provisioning.models import WebhookDelivery

    delivery = WebhookDelivery.objects.get(project=project)
    replay = reverse(
        "deliveries:delivery-replay", kwargs={"slug": project.slug, "delivery_id": delivery.pk}
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(replay).status_code == 302
    assert WebhookDelivery.objects.filter(project=project, replay_of=delivery).count() == 1


def test_webhook_ledger_polls_itself_only_while_deliveries_are_settling(
    client, project, owner, viewer
):
    from provisioning.webhooks.settle import webhooks_drain
    from tests.provisioning.webhooks.webhook_helpers import (
        body_of,
        deliver,
        push_payload,
        signed_headers,
    )

    secret = services.webhook_secret_regenerate(actor=owner, project=project)
    project.refresh_from_db()
    body = body_of(push_payload("github", project.repo_url, ref="refs/heads/feature"))
    deliver(Client(), project, "github", body, signed_headers("github", body, secret), settle=False)
    client.force_login(owner)
    page_url = url("projects:project-webhook", slug=project.slug)
    htmx = {"HX-Request": "true", "HX-Target": "deliveries"}

    partial = client.get(page_url, headers=htmx).content.decode()
    assert partial.lstrip().startswith('<div id="deliveries" hx-get=')
    assert 'hx-trigger="every 2s"' in partial
    assert "<h2>" not in partial, "only the list, not the page"
    webhooks_drain(project_id=project.pk)
    settled = client.get(page_url, headers=htmx).content.decode()
    assert "hx-trigger" not in settled, "settled: the polling stops"
    assert "badge-delivery-ignored" in settled

    client.force_login(viewer)  # may see the project, not manage its webhook
    assert client.get(page_url, headers=htmx).status_code == 403


def test_dashboard_pages_through_many_projects(client, viewer, local_repo_dir):
    from projects.views import DASHBOARD_PAGE_SIZE

    count = DASHBOARD_PAGE_SIZE + 10
    Project.objects.bulk_create(
        Project(name=f"P{i:03}", slug=f"p{i:03}", repo_url=str(local_repo_dir))
        for i in range(count)
    )
    for p in Project.objects.all():
        services.role_grant(actor=None, project=p, role=Role.VIEWER, user=viewer)
    client.force_login(viewer)
    first = client.get(url("projects:project-list")).content.decode()
    first_of_page_two = f"P{DASHBOARD_PAGE_SIZE:03}"
    assert "P000" in first
    assert first_of_page_two not in first
    assert f"Page 1 of 2 · {count} projects" in first
    second = client.get(url("projects:project-list"), {"page": 2}).content.decode()
    assert first_of_page_two in second
    assert "P000" not in second


@pytest.mark.parametrize(
    "name", ["projects:manifest-validate", "projects:webhook-regenerate", "provisioning:run-create"]
)
def test_wrong_method_on_a_post_route_is_404_to_outsiders_and_405_to_members(
    client, project, viewer, outsider, name
):
    path = url(name, slug=project.slug)
    client.force_login(outsider)
    assert client.get(path).status_code == 404
    client.force_login(viewer)
    assert client.get(path).status_code == 405


@pytest.mark.parametrize(
    "api_url",
    [
        "http://169.254.169.254/latest",
        "https://10.0.0.5/api/v4",
        "https://127.1/api",
        "ftp://gitlab.example.com/",
    ],
)
def test_forge_api_url_must_pass_the_address_policy(client, project, owner, api_url, settings):
    settings.ALLOW_LOCAL_REPOS = False
    client.force_login(owner)
    response = client.post(
        url("projects:project-settings", slug=project.slug),
        {
            "name": project.name,
            "repo_url": "https://github.com/acme/healthai.git",
            "default_branch": "main",
            "forge_kind": "gitlab",
            "forge_api_url": api_url,
            "push_mode": "pull_request",
        },
    )
    assert response.status_code == 200
    assert "forge_api_url" in response.context["form"].errors
    project.refresh_from_db()
    assert project.forge_api_url == ""


def test_run_page_gives_a_short_run_its_duration_in_seconds(client, bmad_project, owner):
    from datetime import timedelta

    from django.utils import timezone

    started = timezone.now() - timedelta(minutes=3)
    short = Run.objects.create(
        project=bmad_project,
        kind=RunKind.ANALYZE,
        status=RunStatus.SUCCEEDED,
        started=started,
        finished=started + timedelta(seconds=2.5),
        actor_name=owner.username,
    )
    client.force_login(owner)
    page = client.get(url("provisioning:run-detail", slug=bmad_project.slug, run_id=short.pk))
    text = page.content.decode()
    assert f"Web page by {owner.username}" in text  # how it was started, and by whom
    assert "took 2.5 s" in text
    assert "created now" in text  # humanize's naturaltime, not "0 minutes ago"
    Run.objects.filter(pk=short.pk).update(finished=started + timedelta(minutes=2))
    page = client.get(url("provisioning:run-detail", slug=bmad_project.slug, run_id=short.pk))
    assert "took 2\xa0minutes" in page.content.decode()


def test_the_upgrade_button_starts_an_upgrade_run_for_an_exact_version(
    client, bmad_project, owner, outsider
):
    client.force_login(owner)
    page = client.get(bmad_project.get_absolute_url()).content.decode()
    assert 'name="target_version"' in page
    assert "Plan BMAD upgrade" in page
    start = url("provisioning:run-create", slug=bmad_project.slug)
    refused = client.post(start, {"kind": "upgrade", "target_version": "latest"}, follow=True)
    assert "exact BMAD version" in refused.content.decode()
    assert not Run.objects.exists()
    services.role_grant(actor=None, project=bmad_project, role=Role.EDITOR, user=outsider)
    client.force_login(outsider)
    editor = client.post(start, {"kind": "upgrade", "target_version": "6.12.0"})
    assert editor.status_code == 403  # upgrading needs the provision permission
    client.force_login(owner)
    response = client.post(start, {"kind": "upgrade", "target_version": "6.12.0"})
    assert response.status_code == 302
    run = Run.objects.get()
    assert (run.kind, run.target_version) == (RunKind.UPGRADE, "6.12.0")


def test_an_upgrade_run_page_shows_what_the_installer_changed(client, bmad_project, owner):
    upgrade = {
        "from": "6.0.4",
        "to": "6.12.0",
        "installer": {
            "folders": [{"folder": ".claude/skills", "added": 214, "changed": 0, "deleted": 0}],
            "added": 214,
            "changed": 0,
            "deleted": 0,
            "fingerprint": "x",
        },
        "migrated": {
            "agents": [
                {
                    "source": "_bmad/_config/agents/bmm-pm.customize.yaml",
                    "skill": "bmad-agent-pm",
                    "target": "_bmad/custom/bmad-agent-pm.toml",
                    "keys": ["role"],
                    "dropped": [],
                    "removed": True,
                }
            ],
            "notes": [],
        },
        "rescued": [],
    }
    plan = {"requires_approval": True, "change_count": 0, "operations": [], "conflicts": []}
    run = Run.objects.create(
        project=bmad_project,
        kind=RunKind.UPGRADE,
        status=RunStatus.AWAITING_APPROVAL,
        target_version="6.12.0",
        plan={**plan, "notes": [], "upgrade": upgrade},
    )
    client.force_login(owner)
    page = client.get(run.get_absolute_url()).content.decode()
    assert "BMAD 6.0.4 → 6.12.0" in page
    assert "upgrades BMAD with its official installer" in page
    assert "bmad-agent-pm.toml" in page


def test_project_page_shows_subagents_and_mcp_servers_declared_and_present(
    client, bmad_project, owner, tmp_path
):
    from tests.provisioning.api.test_skills import MCP_MANIFEST, TEAM_TOKEN, analysed_report

    Run.objects.create(
        project=bmad_project,
        kind=RunKind.ANALYZE,
        status=RunStatus.SUCCEEDED,
        actor=owner,
        report=analysed_report(tmp_path, MCP_MANIFEST),
    )
    client.force_login(owner)
    body = client.get(url("projects:project-detail", slug=bmad_project.slug)).content.decode()
    assert "Subagents and MCP servers" in body
    assert "closed list" in body
    assert '<td class="mono small">linear <span class="badge badge-sev-error">not allowed' in body
    assert ".claude/agents/security-reviewer.md" in body
    assert ".claude/agents/team-helper.md" in body
    assert "MCP_SECRET_COMMITTED" in body
    assert TEAM_TOKEN not in body


def test_skills_page_lists_mcp_servers_and_subagents_declared_and_present(
    client, bmad_project, owner, tmp_path
):
    from tests.provisioning.api.test_skills import MCP_MANIFEST, TEAM_TOKEN, analysed_report

    services.manifest_save(actor=owner, project=bmad_project, yaml_text=MCP_MANIFEST)
    Run.objects.create(
        project=bmad_project,
        kind=RunKind.ANALYZE,
        status=RunStatus.SUCCEEDED,
        actor=owner,
        report=analysed_report(tmp_path, MCP_MANIFEST),
    )
    client.force_login(owner)
    body = client.get(url("projects:project-skills", slug=bmad_project.slug)).content.decode()
    assert '<td data-label="Kind">mcp-server</td>' in body
    assert '<td data-label="Kind">subagent</td>' in body
    assert '<td data-label="Skill" class="mono small wrap-anywhere">security-reviewer</td>' in body
    assert TEAM_TOKEN not in body
