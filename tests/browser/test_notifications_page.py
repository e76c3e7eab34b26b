"""The notifications tab in a browser: add a signed webhook, copy its secret once, send a
test to a receiver that is down, see the failure, retry once it is back."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import browser_login
from tests.browser.pages import look
from tests.provisioning.notifications.receiver import Receiver


def test_add_a_webhook_send_a_test_see_it_fail_then_retry(
    page: Any, live_server: Any, shot: Any, project: Any, owner: Any, run_worker: Any, settings: Any
) -> None:
    from django.urls import reverse
    from playwright.sync_api import expect

    from provisioning.models import NotificationDelivery

    settings.NOTIFY_MAX_ATTEMPTS = 1  # one try, then failed: no backoff to wait for
    receiver = Receiver()
    receiver.start()
    try:
        receiver.always = 503
        browser_login(page, live_server.url, "olivia", "owner-pass-12345")
        page.goto(
            live_server.url + reverse("notifications:project-notifications", args=["healthai"])
        )
        page.get_by_label("Name").last.fill("ops room")
        page.get_by_label("URL").fill(receiver.url())
        page.get_by_label("Run failed").last.check()
        page.get_by_role("button", name="Add target").click()
        secret_box = page.locator(".secret-once .secret")
        expect(secret_box).to_have_count(1)
        secret = secret_box.inner_text().strip()
        assert secret.startswith("bmw_")
        look(page, shot, "01-target-added", reload=False)
        page.reload()
        expect(page.locator(".secret-once")).to_have_count(0)  # shown once only
        assert secret not in page.content()

        page.get_by_role("button", name="Send test").click()
        expect(page.get_by_text("is queued; its result shows below")).to_be_visible()
        run_worker()
        page.reload()
        expect(page.locator(".badge-notify-failed")).to_have_text("Failed")
        expect(page.get_by_text("the receiver answered HTTP 503")).to_be_visible()
        look(page, shot, "02-failed")

        receiver.always = None
        page.get_by_role("button", name="Retry").click()
        expect(page.get_by_text("The notification is queued again.")).to_be_visible()
        run_worker()
        page.reload()
        expect(page.locator(".badge-notify-sent")).to_have_text("Sent")
        assert NotificationDelivery.objects.get().status == "sent"
        assert len(receiver.received) == 2
    finally:
        receiver.stop()
