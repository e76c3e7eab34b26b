"""A fleet operator's journey in a real browser: select projects on the campaign page,
start a provisioning campaign whose pull requests open on the (local, fake) forge, then
see them merged once the forge's signed pull_request webhook arrives — on the campaign
page and in the fleet view. Real pages, a real RQ worker, real git, real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from django.urls import reverse

from tests.browser.conftest import browser_login
from tests.provisioning.forges.fakeforge import FakeForge
from tests.repos import DEMO_MANIFEST, make_remote

RUN_TIMEOUT_MS = 120_000
FORGE_TOKEN = "journey-forge-token-3f7a"


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _merged_webhook(base: str, project: Any, secret: str, run: Any) -> int:
    """POST GitHub's pull_request "closed, merged" event for `run`, signed, over HTTP."""
    body = json.dumps(
        {
            "action": "closed",
            "number": 1,
            "pull_request": {
                "html_url": run.pr_url,
                "merged": True,
                "head": {"ref": run.branch},
                "base": {"ref": "main"},
            },
            "repository": {"clone_url": project.repo_url},
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    url = base + reverse(
        "webhooks:receive", kwargs={"provider": "github", "project_uid": project.uid}
    )
    request = urllib.request.Request(  # noqa: S310 (the live test server)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return int(answer.status)


def test_operator_runs_a_campaign_whose_pull_requests_get_merged(
    page: Any,
    live_server: Any,
    background_worker: Any,
    shot: Any,
    make_project: Any,
    owner: Any,
    settings: Any,
    tmp_path: Path,
) -> None:
    from projects import services as project_services
    from provisioning.models import Campaign, Run

    expect = _expect()
    base = live_server.url
    settings.WORK_DIR = tmp_path / "work"
    forge = FakeForge(token=FORGE_TOKEN)
    forge.start()
    try:
        projects, secrets = {}, {}
        for slug in ("fleet-a", "fleet-b", "other-c"):
            projects[slug] = make_project(
                slug=slug,
                name=slug.replace("-", " ").title(),
                repo_url=str(make_remote(tmp_path, name=f"{slug}.git")),
                forge_kind="github",
                forge_api_url=forge.base_url("github"),
                push_mode="pull_request",
                secrets={"forge_token": FORGE_TOKEN},
                manifest=DEMO_MANIFEST,
            )
            secrets[slug] = project_services.webhook_secret_regenerate(
                actor=owner, project=projects[slug]
            )

        browser_login(page, base, "olivia", "owner-pass-12345")
        page.goto(f"{base}/campaigns/new/")
        page.select_option("select[name=kind]", "provision")
        page.fill("input[name=q]", "fleet")
        page.get_by_role("button", name="Select projects").click()
        boxes = page.locator("input[name=project]")
        expect(boxes).to_have_count(2)
        expect(page.locator("input[name=project][value=fleet-a]")).to_be_checked()
        expect(page.locator("input[name=project][value=other-c]")).to_have_count(0)
        page.fill("input[name=name]", "Wave one")
        shot("01-selected")
        page.get_by_role("button", name="Start the campaign").click()
        page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
        campaign = Campaign.objects.get(name="Wave one")

        progress = page.locator("#campaign-progress")
        expect(progress).to_contain_text("Finished", timeout=RUN_TIMEOUT_MS)
        for slug in ("fleet-a", "fleet-b"):
            expect(
                page.locator(f'tr[data-project="{slug}"] a', has_text="pull request")
            ).to_be_visible()
        shot("02-pull-requests-open")
        pulls = forge.pulls_of("github")
        assert sorted(p.head for p in pulls) == sorted(
            Run.objects.filter(campaign=campaign).values_list("branch", flat=True)
        )
        assert all(p.state == "open" for p in pulls)

        for slug in ("fleet-a", "fleet-b"):
            run = Run.objects.get(campaign=campaign, project=projects[slug])
            assert _merged_webhook(base, projects[slug], secrets[slug], run) == 202

        merged = page.locator('[data-pr-state="merged"]')
        for _ in range(60):  # the worker settles the deliveries in a moment
            page.reload()
            if merged.count() == 2:
                break
            page.wait_for_timeout(500)
        expect(merged).to_have_count(2)
        shot("03-campaign-merged")

        page.goto(f"{base}/fleet/")
        expect(page.locator('#fleet-pulls [data-pr="merged"]')).to_contain_text("2")
        page.locator('#fleet-pulls [data-pr="merged"] a').click()
        page.wait_for_url(re.compile(r"/fleet/\?pr=merged$"))
        rows = page.locator("#fleet-projects tr[data-project]")
        expect(rows).to_have_count(2)
        expect(page.locator('#fleet-projects [data-pr-state="merged"]')).to_have_count(2)
        expect(page.locator('#fleet-projects tr[data-project="other-c"]')).to_have_count(0)
        shot("04-fleet-merged")
    finally:
        forge.stop()
