"""The team lead's pages, second pass (issue 14), in a real browser under the strict CSP:
every page of the journey is looked at 1280 and 390 px wide, checked with axe-core (no
serious or critical violation) and screenshotted into test-artifacts/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.browser.a11y import DESKTOP, PHONE, keyboard_reaches_everything
from tests.browser.conftest import browser_login
from tests.browser.pages import look, make_creator, type_manifest
from tests.repos import DEMO_MANIFEST, git, make_remote, push_change, remote_file

RUN_TIMEOUT_MS = 90_000
PASSWORD = "lead-pass-12345"
BAD_MANIFEST = DEMO_MANIFEST.replace("id: frontend-specialist", "id: Bad_Id")
BAD_LINE = 1 + BAD_MANIFEST.splitlines().index("      - id: Bad_Id")


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _run_to(page: Any, button: str, status: str) -> int:
    page.get_by_role("button", name=button).first.click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    _expect()(page.locator("#run-status")).to_have_text(status, timeout=RUN_TIMEOUT_MS)
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def _register_github_without_token(page: Any, base: str, remote: Path) -> None:
    page.goto(f"{base}/projects/new/")
    page.fill("#id_name", "Health AI")
    page.fill("#id_slug", "healthai")
    page.fill("#id_repo_url", str(remote))
    page.select_option("#id_forge_kind", "github")
    page.select_option("#id_push_mode", "pull_request")
    page.check("#id_require_approval")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(f"{base}/p/healthai/manifest/")
    _expect()(page.locator(".messages")).to_contain_text("will need a forge token")


def _set_branch(page: Any, base: str, branch: str) -> None:
    page.goto(f"{base}/p/healthai/settings/")
    page.fill("#id_default_branch", branch)
    page.get_by_role("button", name="Save settings").click()
    _expect()(page.locator(".messages")).to_contain_text("Settings saved.")


def _tab_until(page: Any, name: str, limit: int = 250) -> None:
    """Press Tab until the focused element's text is `name` (the keyboard reaches it)."""
    page.locator("body").focus()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_team_lead_second_pass_journey(
    page: Any,
    live_server: Any,
    background_worker: Any,
    shot: Any,
    django_user_model: Any,
    tmp_path: Path,
) -> None:
    expect = _expect()
    base = live_server.url
    remote = make_remote(tmp_path)
    make_creator(django_user_model, "lead", PASSWORD)
    browser_login(page, base, "lead", PASSWORD)
    look(page, shot, "01-dashboard-empty")

    # 9, 1: a creator registers a GitHub repository without a token and is told so.
    _register_github_without_token(page, base, remote)
    look(page, shot, "02-manifest-before-any", reload=False)

    # 5: analyze before a manifest exists (an install audit), then a starter from it.
    _run_to(page, "Analyze the install", "Succeeded")
    look(page, shot, "03-audit-run")
    page.goto(f"{base}/p/healthai/")
    expect(page.get_by_text("Install audit from analyze run")).to_be_visible()
    look(page, shot, "04-install-audit")
    page.goto(f"{base}/p/healthai/manifest/")
    expect(page.get_by_text("this starter is built from what is installed")).to_be_visible()
    starter = page.evaluate("window.bmadwebManifestEditor.getText()")
    assert "tools: [claude-code, cursor]" in starter
    assert 'bmad_version: ">=6.12,<7"' in starter

    # 8: the editor has line numbers and YAML highlighting; errors jump to their line.
    expect(page.locator(".cm-lineNumbers .cm-gutterElement", has_text="12")).to_be_visible()
    key_color = page.evaluate(
        """() => {
            const host = document.querySelector('.code-editor-host').shadowRoot;
            const lines = [...host.querySelectorAll('.cm-line')];
            const line = lines.find(l => l.textContent.startsWith('project'));
            return getComputedStyle(line.querySelector('span')).color;
        }"""
    )
    assert key_color == "rgb(5, 80, 174)", key_color
    look(page, shot, "05-manifest-starter")
    keyboard_reaches_everything(page, "the manifest editor")
    type_manifest(page, BAD_MANIFEST)
    errors = page.locator("#manifest-errors")
    expect(errors).to_contain_text(f"Line {BAD_LINE}, column")
    page.locator("button.jump").first.click()
    caret_line = page.evaluate(
        "(() => { const v = window.bmadwebManifestEditor.view;"
        " return v.state.doc.lineAt(v.state.selection.main.head).number; })()"
    )
    assert caret_line == BAD_LINE
    look(page, shot, "06-manifest-error", reload=False)
    type_manifest(page, DEMO_MANIFEST)
    expect(errors).to_contain_text("The manifest is valid.")
    page.fill("#id_message", "Frontend specialist for the web team")
    page.get_by_role("button", name="Save revision").click()
    page.wait_for_url(re.compile(r"/p/healthai/$"))

    _run_to(page, "Analyze now", "Succeeded")
    page.goto(f"{base}/p/healthai/skills/")
    row = page.locator("table.skills tr", has_text="frontend-specialist")
    expect(row.locator(".badge")).to_have_text("missing")
    look(page, shot, "07-skills")

    # 2, 4: the plan review: the operations table first, approval box, one line per line.
    page.goto(f"{base}/p/healthai/")
    provision = _run_to(page, "Plan provisioning", "Awaiting approval")
    summary = page.locator("table.plan-summary tbody tr")
    expect(summary.first.locator(".badge")).to_have_text("update")
    assert summary.count() >= 10
    assert page.locator("details.op[open] .badge-op-create").count() == 0  # creates collapsed
    assert page.evaluate(
        "[...document.querySelectorAll('pre.diff')].every(pre =>"
        " [...pre.childNodes].every(n => n.nodeName === 'SPAN'))"
    ), "a diff has text between its lines (blank bands)"
    _tab_until(page, "Approve and apply")  # 3: the keyboard reaches the decision
    keyboard_reaches_everything(page, "the plan awaiting approval")
    look(page, shot, "08-plan-awaiting-approval")
    page.goto(f"{base}/")
    expect(page.get_by_text("awaiting approval")).to_be_visible()  # spelled out
    look(page, shot, "09-dashboard-awaiting")
    page.goto(f"{base}/p/healthai/runs/{provision}/")
    page.get_by_role("button", name="Approve and apply").click()
    expect(page.locator("#run-status")).to_have_text("Pushed", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#no-pr-reason")).to_contain_text(
        "no forge token: add one under Credentials"
    )
    expect(page.get_by_role("link", name="Go to Credentials")).to_be_visible()
    look(page, shot, "10-pushed-without-pull-request")
    page.goto(f"{base}/p/healthai/")
    expect(page.locator("#fix-link")).to_contain_text(f"bmadweb/healthai/{provision}")
    look(page, shot, "11-report-with-open-fix")
    # 7: at phone width the tabs scroll sideways, show it, and keep the current one in view
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/p/healthai/audit/")
    tabs = page.locator(".tabs ul")
    assert page.evaluate("(ul) => ul.scrollWidth > ul.clientWidth", tabs.element_handle())
    expect(tabs).to_have_class(re.compile(r"\bmore-left\b"))
    expect(page.locator(".tabs [aria-current=page]")).to_be_in_viewport()
    page.set_viewport_size(DESKTOP)

    # 4, 2: the team merges the fix and edits a skill by hand; the next manifest changes
    # other lines of it: "modified (merges cleanly)", not a conflict, and the plan puts
    # the merge first, expanded, linked from the approval box.
    git("update-ref", "refs/heads/main", f"refs/heads/bmadweb/healthai/{provision}", cwd=remote)
    skill = ".claude/skills/frontend-specialist/SKILL.md"
    edited = remote_file(remote, "main", skill) + "\nTeam note: ask the design channel first.\n"
    push_change(remote, tmp_path, skill, edited)
    page.goto(f"{base}/p/healthai/manifest/")
    type_manifest(page, DEMO_MANIFEST.replace("for every screen", "and RTL for every screen"))
    expect(errors).to_contain_text("The manifest is valid.")
    page.get_by_role("button", name="Save revision").click()
    page.wait_for_url(re.compile(r"/p/healthai/$"))
    _run_to(page, "Analyze now", "Succeeded")
    page.goto(f"{base}/p/healthai/")
    expect(page.locator("#project-status")).to_have_text("Drift")
    expect(page.locator(".badge-state-merges-cleanly").first).to_have_text(
        "modified (merges cleanly)"
    )
    expect(page.locator(".badge-state-conflict")).to_have_count(0)
    look(page, shot, "11b-report-merges-cleanly")
    merge_run = _run_to(page, "Plan provisioning", "Awaiting approval")
    expect(summary.first.locator(".badge")).to_have_text("merge")
    expect(page.locator("details#op-1")).to_have_attribute("open", "")
    approval_links = page.locator(".approval .review-list a")
    expect(approval_links.first).to_have_attribute("href", "#op-1")
    expect(approval_links.first).to_contain_text(skill)
    look(page, shot, "11c-plan-with-a-merge")
    page.get_by_role("button", name="Cancel the run").click()
    expect(page.locator("#run-status")).to_have_text("Cancelled")
    assert merge_run > provision

    # 1: a failed analysis shows with its reason and a retry; the older report says so.
    _set_branch(page, base, "gone")
    page.goto(f"{base}/p/healthai/")
    _run_to(page, "Analyze now", "Failed")
    look(page, shot, "12-failed-run")
    page.goto(f"{base}/p/healthai/")
    expect(page.locator("#analysis-error")).to_contain_text("failed")
    expect(page.locator("#report-banner")).to_contain_text("The newest run")
    expect(page.locator("#report-banner")).to_contain_text("made on branch main")
    expect(page.get_by_role("button", name="Retry the analysis")).to_be_visible()
    look(page, shot, "13-report-after-failure")
    keyboard_reaches_everything(page, "the gap report")
    page.goto(f"{base}/")
    expect(page.locator("table.dashboard .badge-error")).to_have_text("Error")
    look(page, shot, "14-dashboard-error")
    page.get_by_role("button", name="Retry the analysis of Health AI").click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    expect(page.locator("#run-status")).to_have_text("Failed", timeout=RUN_TIMEOUT_MS)
    _set_branch(page, base, "main")

    # 8: copy buttons, the readable audit tab, restore a revision.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(f"{base}/p/healthai/webhook/")
    page.get_by_role("button", name="Copy the GitHub webhook URL").click()
    expect(page.get_by_role("button", name="Copy the GitHub webhook URL")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").endswith("/")
    look(page, shot, "15-webhook")
    keyboard_reaches_everything(page, "the webhook page")
    page.goto(f"{base}/p/healthai/audit/")
    page.select_option("#audit-action", "run.")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text(f"lead approved provision run #{provision}.")).to_be_visible()
    expect(page.get_by_text("saved manifest revision")).to_have_count(0)
    look(page, shot, "16-audit-filtered")
    page.goto(f"{base}/p/healthai/manifest/")
    type_manifest(page, DEMO_MANIFEST.replace("WCAG 2.2 AA", "WCAG 2.2 AAA"))
    expect(errors).to_contain_text("The manifest is valid.")
    page.get_by_role("button", name="Save revision").click()
    page.wait_for_url(re.compile(r"/p/healthai/$"))
    page.goto(f"{base}/p/healthai/manifest/history/")
    page.get_by_role("button", name="Restore revision 1").click()
    expect(page.locator(".messages")).to_contain_text("Revision 1 restored as revision 4")
    look(page, shot, "17-history-restored")

    for path, name in [
        ("/p/healthai/runs/", "18-runs"),
        ("/p/healthai/settings/", "19-settings"),
        ("/p/healthai/credentials/", "20-credentials"),
        ("/p/healthai/members/", "21-members"),
        ("/p/healthai/manifest/compare/?a=1&b=2", "22-compare"),
        ("/account/tokens/", "23-tokens"),
        ("/p/no-such-project/", "24-not-found"),
        ("/p/healthai/delete/", "25-delete"),
        ("/projects/new/", "26-register"),
    ]:
        page.goto(base + path)
        look(page, shot, name)
    assert background_worker.jobs_seen >= 6


def test_who_may_register_and_the_error_pages(
    page: Any, live_server: Any, shot: Any, django_user_model: Any
) -> None:
    """9 and 6: someone without the creator permission sees no register button and gets a
    styled 403 with navigation; staff open the RQ dashboard without a CSP error."""
    expect = _expect()
    base = live_server.url
    django_user_model.objects.create_user("newbie", password=PASSWORD)
    page.goto(f"{base}/login/")
    look(page, shot, "00-sign-in")
    browser_login(page, base, "newbie", PASSWORD)
    expect(page.get_by_role("link", name="Register a repository")).to_have_count(0)
    expect(page.get_by_text("Project creators")).to_be_visible()
    look(page, shot, "01-dashboard-no-permission")
    response = page.goto(f"{base}/projects/new/")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="You may not do this here")).to_be_visible()
    expect(page.get_by_role("button", name="Go to your projects")).to_be_visible()
    look(page, shot, "02-forbidden")

    django_user_model.objects.create_superuser("root", "root@example.test", PASSWORD)
    page.context.clear_cookies()
    browser_login(page, base, "root", PASSWORD)
    page.goto(f"{base}/admin/rq/")
    expect(page.get_by_role("heading", name="Queues")).to_be_visible()
    shot("03-rq-dashboard")
    page.goto(f"{base}/account/tokens/")
    page.fill("#id_name", "CI drift check")
    page.get_by_role("button", name="Create token").click()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == page.input_value("#new-token")
    look(page, shot, "04-token-created", reload=False)
    icon = page.goto(f"{base}/favicon.ico")
    assert icon is not None
    assert icon.ok
    assert "svg" in (icon.headers.get("content-type") or "")
