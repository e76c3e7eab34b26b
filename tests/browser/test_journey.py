"""The team lead's journey in a real browser, end to end (issue 5, §8).

Register a repository, write its manifest with live validation, analyze it, plan the
provisioning, approve the plan and see the branch land on the (local, bare) remote —
through the real pages, a real RQ worker and real git, under the strict CSP.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.browser.conftest import browser_login
from tests.browser.pages import make_creator, type_manifest
from tests.repos import DEMO_MANIFEST, make_remote, remote_branches, remote_file

RUN_TIMEOUT_MS = 90_000  # a run clones, analyses and pushes a real repository
PASSWORD = "lead-pass-12345"
BAD_MANIFEST = DEMO_MANIFEST.replace("id: frontend-specialist", "id: Bad_Id")
BAD_LINE = 1 + BAD_MANIFEST.splitlines().index("      - id: Bad_Id")
SKILL = ".claude/skills/frontend-specialist/SKILL.md"


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _register(page: Any, base: str, repo: Path) -> None:
    page.goto(f"{base}/")
    page.get_by_role("link", name="Register a repository").click()
    page.fill("#id_name", "Health AI")
    page.fill("#id_slug", "healthai")
    page.fill("#id_repo_url", str(repo))
    page.fill("#id_default_branch", "main")
    page.select_option("#id_forge_kind", "other")
    page.select_option("#id_push_mode", "branch")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(f"{base}/p/healthai/manifest/")


def _write_manifest(page: Any, shot: Any) -> None:
    expect = _expect()
    errors = page.locator("#manifest-errors")
    type_manifest(page, BAD_MANIFEST)
    expect(errors).to_contain_text(re.compile(rf"Line {BAD_LINE}, column 13\b"))
    expect(errors).to_contain_text("lowercase")
    expect(errors.locator("li")).to_have_count(1)
    shot("manifest-error")
    type_manifest(page, DEMO_MANIFEST)
    expect(errors).to_contain_text("The manifest is valid.")
    page.fill("#id_message", "Frontend specialist for the web team")
    page.get_by_role("button", name="Save revision").click()
    page.wait_for_url(re.compile(r"/p/healthai/$"))
    expect(page.locator(".messages")).to_contain_text("Saved revision 1")


def _start_run(page: Any, button: str) -> int:
    page.get_by_role("button", name=button).click()
    page.wait_for_url(re.compile(r"/p/healthai/runs/\d+/$"))
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def _require_approval(page: Any, base: str) -> None:
    page.goto(f"{base}/p/healthai/settings/")
    page.check("#id_require_approval")
    page.get_by_role("button", name="Save settings").click()
    _expect()(page.locator(".messages")).to_contain_text("Settings saved.")
    _expect()(page.locator("#id_require_approval")).to_be_checked()


def _no_horizontal_overflow(page: Any) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]}px wide in a {width[1]}px window"


def test_team_lead_registers_writes_manifest_analyzes_and_provisions_through_approval(
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
    shot("01-dashboard-empty")

    _register(page, base, remote)
    shot("02-registered")
    _write_manifest(page, shot)
    shot("03-saved")

    analyze = _start_run(page, "Analyze now")
    status = page.locator("#run-status")
    expect(status).to_have_text("Succeeded", timeout=RUN_TIMEOUT_MS)
    expect(status).to_have_class(re.compile(r"\bbadge-succeeded\b"))
    expect(page.locator("#run-live")).not_to_have_attribute("hx-get", re.compile(".*"))
    shot("04-analyzed")

    page.get_by_role("link", name="Health AI").first.click()
    expect(page.locator("#items-title")).to_be_visible()
    expect(page.locator(".badge-state-missing").first).to_be_visible()
    expect(page.get_by_text(f"run #{analyze}", exact=False).first).to_be_visible()
    shot("05-gap-report")

    _require_approval(page, base)
    page.goto(f"{base}/p/healthai/")
    provision = _start_run(page, "Plan provisioning")
    expect(status).to_have_text("Awaiting approval", timeout=RUN_TIMEOUT_MS)
    expect(page.locator(".diff-add").first).to_be_visible()
    expect(page.locator(".badge-op-create").first).to_be_visible()
    shot("06-plan-awaiting-approval")
    assert remote_branches(remote) == ["main"]  # nothing pushed before approval

    page.get_by_role("button", name="Approve and apply").click()
    expect(status).to_have_text("Pushed", timeout=RUN_TIMEOUT_MS)
    branch = f"bmadweb/healthai/{provision}"
    expect(page.locator(".ok-box")).to_contain_text(branch)
    shot("07-pushed")

    assert branch in remote_branches(remote)
    assert "Frontend Specialist" in remote_file(remote, branch, SKILL)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/")
    _no_horizontal_overflow(page)
    shot("08-phone-dashboard")
    page.goto(f"{base}/p/healthai/runs/{provision}/")
    _no_horizontal_overflow(page)
    shot("09-phone-run")
    assert background_worker.jobs_seen >= 3  # analyze, plan, apply


def test_register_form_is_usable_with_the_keyboard_alone(
    page: Any, live_server: Any, shot: Any, django_user_model: Any, tmp_path: Path
) -> None:
    """Tab through the fields in reading order, type, choose with the keyboard, Enter."""
    expect = _expect()
    base = live_server.url
    (tmp_path / "kbd.git").mkdir()
    make_creator(django_user_model, "keys", PASSWORD)
    browser_login(page, base, "keys", PASSWORD)
    page.goto(f"{base}/projects/new/")

    def tab_to(element_id: str) -> None:
        for _ in range(30):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("id_name")
    page.keyboard.type("Keyboard Only")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_slug"
    page.keyboard.type("keyboard-only")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_repo_url"
    page.keyboard.type(str(tmp_path / "kbd.git"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_default_branch"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_forge_kind"
    page.keyboard.type("Other")  # type-ahead picks "Other (no pull requests)"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_push_mode"
    page.keyboard.type("Push the branch")
    expect(page.locator("#id_forge_kind")).to_have_value("other")
    expect(page.locator("#id_push_mode")).to_have_value("branch")
    shot("filled")
    tab_to("id_require_approval")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Register"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/p/keyboard-only/manifest/")

    from projects.models import Project

    created = Project.objects.get(slug="keyboard-only")
    assert (created.forge_kind, created.push_mode, created.require_approval) == (
        "other",
        "branch",
        True,
    )
