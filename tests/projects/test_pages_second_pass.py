"""The team lead's pages, second pass (issue 14): failures shown, reviews that show what
needs review, consistent states, the install audit's starter, error pages, the skills
and audit pages, restoring a revision, and who may register repositories."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from projects import services
from projects.audit_sentences import audit_sentence
from projects.models import Project, SyncStatus
from projects.templatetags.ui import codespans, counted, words
from provisioning.models import Run, RunKind, RunStatus
from tests.projects.creators import creators_group
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db


def url(name: str, **kwargs: object) -> str:
    return reverse(name, kwargs=kwargs)


def _report(**extra: object) -> dict[str, object]:
    report: dict[str, object] = {
        "bmad": {
            "generation": "6.4",
            "version": "6.12.0",
            "modules": ["core", "bmm"],
            "tools": ["claude-code", "cursor"],
        },
        "status": "drift",
        "counts": {"missing": 1},
        "findings": [
            {
                "code": "version-old",
                "severity": "warning",
                "title": "Run `npx bmad-method`",
                "explanation": "The file `_bmad/_config/manifest.yaml` <b>says</b> so.",
                "recommendation": "Update.",
                "fixable": False,
                "paths": [],
            }
        ],
        "items": [
            {
                "path": "a/SKILL.md",
                "state": "missing",
                "kind": "skill",
                "reason": "r",
                "unsafe": False,
            },
            {
                "path": "b/SKILL.md",
                "state": "conflict",
                "kind": "skill",
                "reason": "r",
                "unsafe": False,
                "merges_cleanly": True,
            },
        ],
        "notes": [],
    }
    report.update(extra)
    return report


def _run(project: Project, **fields: object) -> Run:
    fields.setdefault("kind", RunKind.ANALYZE)
    fields.setdefault("status", RunStatus.SUCCEEDED)
    return Run.objects.create(project=project, **fields)


# --- Filters and sentences ------------------------------------------------------------


def test_filters_count_nouns_spell_statuses_and_show_backticks_as_code() -> None:
    assert counted(1, "finding") == "1 finding"
    assert counted(2, "finding") == "2 findings"
    assert counted([1, 2, 3], "entry,entries") == "3 entries"
    assert words("awaiting_approval") == "awaiting approval"
    assert codespans("Run `npx <x>` now") == "Run <code>npx &lt;x&gt;</code> now"
    assert codespans("<script>`a`") == "&lt;script&gt;<code>a</code>"


@pytest.mark.parametrize(
    ("action", "payload", "expected"),
    [
        (
            "run.create",
            {"run": 4, "kind": "analyze", "trigger": "webhook"},
            "olivia started analyze run #4 (from webhook).",
        ),
        (
            "run.failed",
            {"run": 4, "kind": "analyze", "reason": "Cloning failed"},
            "Analyze run #4 failed: Cloning failed",
        ),
        (
            "manifest.save",
            {"revision": 2, "message": "QA"},
            "olivia saved manifest revision 2: “QA”",
        ),
        ("role.grant", {"role": "editor", "group": "web"}, "olivia made team web editor."),
        (
            "credential.set",
            {"field": "forge_token"},
            "olivia set the API token used to open pull/merge requests.",
        ),
        (
            "project.update",
            {"changes": {"name": {"from": "A", "to": "B"}}},
            "olivia changed name from “A” to “B”.",
        ),
        (
            "webhook.accepted",
            {"provider": "github", "event": "push"},
            "A github push delivery was accepted.",
        ),
        ("something.new", None, "something new by olivia."),
        (
            "run.create",
            {"error": "cannot decrypt this payload"},
            "run.create by olivia (the details cannot be decrypted).",
        ),
    ],
)
def test_every_audit_event_reads_as_one_sentence(action, payload, expected) -> None:  # type: ignore[no-untyped-def]
    assert audit_sentence(action, "olivia", payload) == expected


# --- 1. Failures are never hidden -----------------------------------------------------


def test_a_failed_analysis_shows_on_the_dashboard_with_reason_and_retry(
    client, project, owner, viewer
):  # type: ignore[no-untyped-def]
    _run(project, status=RunStatus.FAILED, failure_reason="Cloning failed: no such repository")
    Project.objects.filter(pk=project.pk).update(sync_status=SyncStatus.ERROR)
    client.force_login(owner)
    page = client.get("/").content.decode()
    assert "badge-error" in page
    assert "Cloning failed: no such repository" in page
    assert "Retry the analysis of Health AI" in page
    client.force_login(viewer)
    page = client.get("/").content.decode()
    assert "Cloning failed" in page
    assert "Retry the analysis" not in page  # a viewer may not start one


def test_project_page_shows_the_failure_and_that_the_report_is_older(client, project, owner):  # type: ignore[no-untyped-def]
    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST)
    old = _run(project, report=_report(), source_branch="main")
    failed = _run(project, status=RunStatus.FAILED, failure_reason="Cloning failed: gone")
    Project.objects.filter(pk=project.pk).update(
        sync_status=SyncStatus.ERROR, default_branch="develop"
    )
    client.force_login(owner)
    page = client.get(url("projects:project-detail", slug=project.slug)).content.decode()
    assert 'id="analysis-error"' in page
    assert "Cloning failed: gone" in page
    assert "Retry the analysis" in page
    assert f"This report is from run #{old.pk}" in page
    assert f"#{failed.pk}</a>, failed" in page
    assert 'made on branch <span class="mono">main</span>' in page


def test_registering_a_forge_project_without_a_token_says_pull_requests_need_one(
    client, outsider, tmp_path
):  # type: ignore[no-untyped-def]
    outsider.groups.add(creators_group())
    client.force_login(outsider)
    response = client.post(
        url("projects:project-create"),
        {
            "name": "Mine",
            "slug": "mine",
            "repo_url": str(tmp_path),
            "default_branch": "main",
            "forge_kind": "gitlab",
            "push_mode": "pull_request",
        },
        follow=True,
    )
    assert "Pull requests on GitLab will need a forge token" in response.content.decode()


def test_pushed_run_says_why_no_pull_request_was_opened(client, project, owner):  # type: ignore[no-untyped-def]
    run = _run(
        project,
        kind=RunKind.PROVISION,
        status=RunStatus.PUSHED,
        branch="bmadweb/x/1",
        commit_sha="a" * 40,
        pr_note="no forge token: add one under Credentials",
    )
    client.force_login(owner)
    page = client.get(run.get_absolute_url()).content.decode()
    assert "No pull request was opened: no forge token: add one under Credentials." in page
    assert url("projects:project-credentials", slug=project.slug) in page
    report = client.get(url("projects:project-detail", slug=project.slug)).content.decode()
    assert 'id="fix-link"' in report  # the gap report links to the branch that fixes it
    assert "bmadweb/x/1" in report


# --- 2. Reviews show what needs review ------------------------------------------------


def _op(path: str, action: str, lines: int = 2) -> dict[str, object]:
    body = "".join(f"+line {i}\n" for i in range(lines))
    return {
        "path": path,
        "action": action,
        "reason": f"why {path}",
        "state": None,
        "diff": f"--- a/{path}\n+++ b/{path}\n@@ -0,0 +1,{lines} @@\n{body}-old\n",
    }


def test_run_page_opens_with_the_operations_table_deletes_and_merges_first(client, project, owner):  # type: ignore[no-untyped-def]
    plan = {
        "requires_approval": True,
        "change_count": 4,
        "conflicts": [],
        "notes": [],
        "operations": [
            _op("c.md", "create"),
            _op("u.md", "update", 200),
            _op("d.md", "delete"),
            _op("m.md", "merge"),
            _op("s.md", "skip"),
        ],
    }
    run = _run(project, kind=RunKind.PROVISION, status=RunStatus.AWAITING_APPROVAL, plan=plan)
    client.force_login(owner)
    page = client.get(run.get_absolute_url()).content.decode()
    table = page[
        page.index('class="plan-summary') : page.index("</table>", page.index("plan-summary"))
    ]
    order = [table.index(p) for p in ("d.md", "m.md", "u.md", "c.md")]
    assert order == sorted(order)
    assert "s.md" not in table
    assert "+2" in table
    assert "\u22121" in table  # "minus 1", with the minus sign
    # the approval box links to the operations that need it
    box = page[
        page.index('class="approval"') : page.index("</article>", page.index('class="approval"'))
    ]
    assert 'href="#op-1"' in box and 'href="#op-2"' in box  # noqa: PT018
    assert "c.md" not in box
    assert '<details class="op" id="op-1" open>' in page  # delete: open
    assert '<details class="op" id="op-3" >' in page  # a long update starts collapsed
    assert '<details class="op" id="op-4" >' in page  # create: collapsed
    # one line per line: nothing between the diff's line elements
    diff = page[page.index('<pre class="diff"') : page.index("</pre>")]
    assert "</span>\n<span" not in diff


def test_a_run_awaiting_approval_is_watched_without_losing_what_the_reviewer_opened(
    client, project, owner
):  # type: ignore[no-untyped-def]
    run = _run(project, kind=RunKind.PROVISION, status=RunStatus.AWAITING_APPROVAL, plan={})
    client.force_login(owner)
    live = url("provisioning:run-live", slug=project.slug, run_id=run.pk)
    page = client.get(run.get_absolute_url()).content.decode()
    assert "?while=awaiting_approval" in page
    assert client.get(live, {"while": "awaiting_approval"}).status_code == 204
    Run.objects.filter(pk=run.pk).update(status=RunStatus.APPLYING)
    moved = client.get(live, {"while": "awaiting_approval"})
    assert moved["HX-Refresh"] == "true"


def test_the_live_partial_updates_the_project_header_too(client, project, owner):  # type: ignore[no-untyped-def]
    run = _run(project, status=RunStatus.RUNNING)
    client.force_login(owner)
    live = client.get(
        url("provisioning:run-live", slug=project.slug, run_id=run.pk), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="project-status"' in live
    assert 'hx-swap-oob="true"' in live


# --- 4. Consistent states ------------------------------------------------------------


def test_states_words_and_counts_are_consistent(client, project, owner):  # type: ignore[no-untyped-def]
    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST)
    _run(project, report=_report())
    _run(project, kind=RunKind.PROVISION, status=RunStatus.AWAITING_APPROVAL)
    client.force_login(owner)
    dashboard = client.get("/").content.decode()
    assert ">awaiting approval</span>" in dashboard
    page = client.get(url("projects:project-detail", slug=project.slug)).content.decode()
    assert "(1 finding)" in page
    assert "<code>npx bmad-method</code>" in page
    assert "<code>_bmad/_config/manifest.yaml</code> &lt;b&gt;says&lt;/b&gt;" in page
    assert "modified (merges cleanly)" in page
    assert "badge-state-conflict" not in page


def test_empty_state_never_points_at_a_disabled_button(client, project, owner, viewer):  # type: ignore[no-untyped-def]
    client.force_login(owner)
    page = client.get(url("projects:project-detail", slug=project.slug)).content.decode()
    assert "Analyze the install" in page  # no manifest: the audit is offered, enabled
    assert "disabled" not in page
    _run(project, status=RunStatus.RUNNING)
    page = client.get(url("projects:project-detail", slug=project.slug)).content.decode()
    assert "Click <strong>" not in page  # a run is active: the empty state follows it
    assert "The first analysis is on its way" in page
    client.force_login(viewer)
    Run.objects.all().delete()
    page = client.get(url("projects:project-detail", slug=project.slug)).content.decode()
    assert "An editor or operator of this project can start the first analysis." in page


# --- 5. The install audit and its starter ----------------------------------------------


def test_the_editor_starts_from_what_the_install_audit_saw(client, project, owner):  # type: ignore[no-untyped-def]
    client.force_login(owner)
    before = client.get(url("projects:manifest-edit", slug=project.slug)).content.decode()
    assert "Analyze the install" in before
    _run(project, report=_report(audit=True, items=[], findings=[]))
    page = client.get(url("projects:manifest-edit", slug=project.slug)).content.decode()
    assert "built from what is installed" in page
    assert "tools: [claude-code, cursor]" in page
    assert "bmad_version: &quot;&gt;=6.12,&lt;7&quot;" in page
    report = client.get(url("projects:project-detail", slug=project.slug)).content.decode()
    assert "Install audit from" in report
    assert "starting from what is installed" in report


# --- 8. Skills, audit, restore ---------------------------------------------------------


def test_skills_page_lists_declared_and_installed_skills_with_state(client, project, owner):  # type: ignore[no-untyped-def]
    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST)
    client.force_login(owner)
    page = client.get(url("projects:project-skills", slug=project.slug)).content.decode()
    assert "frontend-specialist" in page
    assert "not analysed" in page
    _run(
        project,
        report=_report(
            items=[
                {
                    "path": ".claude/skills/frontend-specialist/SKILL.md",
                    "state": "up-to-date",
                    "kind": "skill",
                    "reason": "",
                    "unsafe": False,
                },
                {
                    "path": ".claude/skills/old-one/SKILL.md",
                    "state": "orphaned",
                    "kind": "skill",
                    "reason": "",
                    "unsafe": False,
                },
            ]
        ),
    )
    page = client.get(url("projects:project-skills", slug=project.slug)).content.decode()
    assert "badge-state-up-to-date" in page
    assert "old-one" in page
    assert "installed</td>" in page


def test_audit_tab_reads_as_sentences_and_filters_by_action_and_actor(client, project, owner):  # type: ignore[no-untyped-def]
    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST, message="one")
    client.force_login(owner)
    audit = url("projects:project-audit", slug=project.slug)
    page = client.get(audit).content.decode()
    assert "olivia saved manifest revision 1: “one”" in page
    assert "olivia registered the project" in page
    only = client.get(audit, {"action": "manifest."}).content.decode()
    assert "saved manifest revision 1" in only
    assert "registered the project" not in only
    nobody = client.get(audit, {"actor": "-"}).content.decode()
    assert "No events match" in nobody
    for hostile in ({"action": "x" * 5000}, {"actor": "<script>"}, {"page": "99999999999"}):
        response = client.get(audit, hostile)
        assert response.status_code == 200
        # Ignored, not applied: every event still shows.
        assert (response.context["action"], response.context["actor"]) == ("", "")
        hostile_page = response.content.decode()
        assert "olivia saved manifest revision 1: “one”" in hostile_page
        assert "olivia registered the project" in hostile_page
        assert "No events match" not in hostile_page


def test_restore_saves_an_older_revision_as_the_newest(client, project, owner, viewer):  # type: ignore[no-untyped-def]
    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST)
    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST + "# two\n")
    client.force_login(owner)
    restore = url("projects:manifest-restore", slug=project.slug)
    response = client.post(restore, {"revision": "1"}, follow=True)
    assert "Revision 1 restored as revision 3" in response.content.decode()
    latest = project.revisions.order_by("-number").first()
    assert latest.yaml_text == DEMO_MANIFEST
    assert latest.message == "Restore revision 1"
    for hostile in ("", "abc", "-1", "0", "99999999999999999999", "3.5"):
        assert client.post(restore, {"revision": hostile}).status_code == 302
    assert project.revisions.count() == 3
    client.force_login(viewer)
    assert client.post(restore, {"revision": "1"}).status_code == 403


def test_compare_with_hostile_numbers_is_404(client, project, owner):  # type: ignore[no-untyped-def]
    client.force_login(owner)
    compare = url("projects:manifest-compare", slug=project.slug)
    for a, b in (("99999999999999999999", "1"), ("-5", "1"), ("1", "x")):
        assert client.get(compare, {"a": a, "b": b}).status_code == 404


# --- 9. Who may register repositories ------------------------------------------------


def test_registering_needs_the_project_creator_permission(client, outsider, staff, tmp_path):  # type: ignore[no-untyped-def]
    client.force_login(outsider)
    assert client.get(url("projects:project-create")).status_code == 403
    assert "Register a repository" not in client.get("/").content.decode()
    assert "Project creators" in client.get("/").content.decode()
    outsider.groups.add(creators_group())
    client.force_login(outsider)
    assert client.get(url("projects:project-create")).status_code == 200
    assert "Register a repository" in client.get("/").content.decode()
    client.force_login(staff)
    assert client.get(url("projects:project-create")).status_code == 200
    refused = Client()
    nobody = type(outsider).objects.create_user("nobody", password="nobody-pass-1234")
    refused.force_login(nobody)
    response = refused.post(
        url("projects:project-create"),
        {
            "name": "X",
            "slug": "x",
            "repo_url": str(tmp_path),
            "default_branch": "main",
            "forge_kind": "other",
            "push_mode": "branch",
        },
    )
    assert response.status_code == 403
    assert not Project.objects.filter(slug="x").exists()


# --- 6. Styled error pages ---------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_error_pages_are_styled_with_navigation(client, outsider, debug):  # type: ignore[no-untyped-def]
    client.force_login(outsider)
    with override_settings(DEBUG=debug):
        missing = client.get("/p/no-such-project/")
        unknown_url = client.get("/no/such/page/")
        forbidden = client.get(url("projects:project-create"))
    for response, title in (
        (missing, "Page not found"),
        (unknown_url, "Page not found"),
        (forbidden, "You may not do this here"),
    ):
        body = response.content.decode()
        assert title in body
        assert "Go to your projects" in body
        assert "vendor/pico" in body  # the site's own stylesheet, no inline styles
        assert "<style" not in body
        assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("debug", [False, True])
def test_a_server_error_is_a_styled_500(outsider, debug, monkeypatch):  # type: ignore[no-untyped-def]
    from projects import views

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("kaboom in the view")

    monkeypatch.setattr(views, "project_list_for_dashboard", boom)
    client = Client(raise_request_exception=False)
    client.force_login(outsider)
    with override_settings(DEBUG=debug):
        response = client.get("/")
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in body
    assert "Go to your projects" in body
    assert ("kaboom in the view" in body) is debug  # the traceback only with DEBUG on


def test_csrf_refusal_is_a_styled_403(outsider):  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.force_login(outsider)
    response = client.post(url("projects:project-create"), {})
    body = response.content.decode()
    assert response.status_code == 403
    assert "CSRF" in body
    assert "Go to your projects" in body


def test_favicon_ico_points_at_the_icon(client):  # type: ignore[no-untyped-def]
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")


def test_a_failed_run_page_offers_a_retry_to_those_who_may(client, project, owner, viewer):  # type: ignore[no-untyped-def]
    run = _run(project, status=RunStatus.FAILED, failure_reason="Cloning failed")
    client.force_login(owner)
    assert "Retry: start a new analyze run" in client.get(run.get_absolute_url()).content.decode()
    client.force_login(viewer)
    assert "Retry" not in client.get(run.get_absolute_url()).content.decode()


def test_the_fix_link_is_only_for_the_newest_report(client, project, owner):  # type: ignore[no-untyped-def]
    _run(
        project,
        kind=RunKind.PROVISION,
        status=RunStatus.PUSHED,
        branch="bmadweb/x/1",
        report=_report(),
    )
    client.force_login(owner)
    page = client.get(url("projects:project-detail", slug=project.slug)).content.decode()
    assert 'id="fix-link"' in page
    _run(project, report=_report())  # a later analysis: the branch was made for an older state
    page = client.get(url("projects:project-detail", slug=project.slug)).content.decode()
    assert 'id="fix-link"' not in page
