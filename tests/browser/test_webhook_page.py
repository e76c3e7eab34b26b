"""A forge's push over real HTTP, settled by a real RQ worker, seen on the webhook page."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.conftest import browser_login
from tests.provisioning.webhooks.webhook_helpers import (
    body_of,
    hook_url,
    push_payload,
    signed_headers,
)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    headers = {"Content-Type": "application/json", **headers}
    return httpx.post(url, content=body, headers=headers, timeout=10).status_code


def test_a_push_is_queued_then_settled_by_the_worker_and_shown_with_its_run(
    page: Any, live_server: Any, shot: Any, bmad_project: Any, owner: Any, run_worker: Any
) -> None:
    from django.urls import reverse
    from playwright.sync_api import expect

    from projects import services
    from provisioning.models import Run, WebhookDelivery

    secret = services.webhook_secret_regenerate(actor=owner, project=bmad_project)
    push = body_of(push_payload("github", bmad_project.repo_url, after="c0ffee" * 6 + "beef"))
    other = body_of(push_payload("github", bmad_project.repo_url, ref="refs/heads/wip"))
    url = live_server.url + hook_url(bmad_project, "github")
    assert _post(url, push, signed_headers("github", push, secret)) == 202
    assert _post(url, other, signed_headers("github", other, secret)) == 200

    browser_login(page, live_server.url, "olivia", "owner-pass-12345")
    page.goto(live_server.url + reverse("projects:project-webhook", args=[bmad_project.slug]))
    rows = page.locator("table.striped tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator(".badge-delivery-queued")).to_have_text("Queued")
    expect(rows.nth(0).locator(".badge-delivery-ignored")).to_have_text("Ignored")
    expect(page.get_by_text("this list updates by itself")).to_be_visible()
    shot("queued")

    # The worker: the drain job settles both deliveries and starts the analysis, which
    # then runs against the bare remote.
    run_worker()

    run = Run.objects.get(project=bmad_project)
    settled = WebhookDelivery.objects.get(event="push", ref="refs/heads/main")
    assert (settled.outcome, settled.run_id, settled.pending) == ("accepted", run.pk, False)
    # No reload: the list polls itself while deliveries are settling, then stops.
    expect(rows.nth(1).locator(".badge-delivery-accepted")).to_have_text("Accepted")
    expect(page.locator("#deliveries[hx-trigger]")).to_have_count(0)
    expect(rows.nth(1).get_by_role("link", name=f"#{run.pk}")).to_be_visible()
    expect(page.get_by_text("c0ffeec0ffee")).to_be_visible()  # last push seen, also live
    shot("settled")
