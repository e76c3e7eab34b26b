"""Discovery in a real browser: a platform owner adds a GitHub organisation (served by
the local fake forge), the page follows the listing job until the repositories and
their BMAD column appear by themselves, and the ticked ones are registered with a base
manifest. Real pages, a real RQ worker, real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.a11y import axe_check
from tests.browser.conftest import browser_login
from tests.provisioning.forges.fakeforge import FakeForge
from tests.repos import PLATFORM_BASE

FORGE_TOKEN = "discovery-forge-token-9c1e"


def test_staff_discover_an_organisation_and_register_two_repositories(
    page: Any, live_server: Any, background_worker: Any, shot: Any, staff: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from projects import services as project_services
    from projects.models import Project

    project_services.base_save(actor=staff, name="platform", yaml_text=PLATFORM_BASE)
    forge = FakeForge(token=FORGE_TOKEN)
    forge.start()
    try:
        forge.clone_base = str(tmp_path / "remotes")  # local clone URLs (the test allowance)
        for name in ("web-app", "api", "docs"):
            (tmp_path / "remotes" / "acme" / f"{name}.git").mkdir(parents=True)
        forge.add_repo("github", "acme/web-app", ("_bmad/_config/manifest.yaml",))
        forge.add_repo("github", "acme/api", (".bmad-core/install-manifest.yaml",))
        forge.add_repo("github", "acme/docs")

        browser_login(page, live_server.url, "stella", "staff-pass-12345")
        page.get_by_role("link", name="Discover").click()
        page.select_option("select[name=kind]", "github")
        page.fill("input[name=org_url]", "https://github.example/acme")
        page.fill("input[name=api_url]", forge.base_url("github"))
        page.fill("input[name=token]", FORGE_TOKEN)
        shot("01-source")
        page.locator("input[name=token]").press("Enter")

        # The job lists and probes; the page polls and shows the result by itself.
        rows = page.locator("#listing tbody tr")
        expect(rows).to_have_count(3, timeout=60_000)
        expect(page.locator("#listing")).not_to_have_attribute("hx-trigger", "every 2s")
        expect(page.get_by_role("row", name="acme/web-app")).to_contain_text("BMAD 6")
        expect(page.get_by_role("row", name="acme/api")).to_contain_text("BMAD v4")
        expect(page.get_by_role("row", name="acme/docs")).to_contain_text("—")
        expect(page.get_by_text("Listed")).to_be_visible()
        assert axe_check(page, "discovery listing") == []
        shot("02-listed")

        page.get_by_label("Register acme/web-app").check()
        page.get_by_label("Register acme/api").check()
        page.get_by_role("button", name="Register the ticked repositories").click()
        expect(page.get_by_text("2 project(s) registered.")).to_be_visible()
        shot("03-registered")
        assert sorted(Project.objects.values_list("name", flat=True)) == [
            "acme/api",
            "acme/web-app",
        ]

        expect(page.get_by_label("Register acme/web-app")).to_be_disabled()
        expect(page.get_by_role("row", name="acme/api")).to_contain_text("(registered)")
        expect(page.get_by_label("Register acme/docs")).to_be_enabled()

        page.get_by_role("button", name="List again").click()
        expect(page.locator("#listing tbody tr")).to_have_count(3, timeout=60_000)
        expect(page.locator("#listing")).not_to_have_attribute("hx-trigger", "every 2s")
    finally:
        forge.stop()
