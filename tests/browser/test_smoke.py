"""Sign in through a real browser and see the dashboard, under the strict CSP."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import browser_login


def test_sign_in_shows_only_my_projects_on_the_dashboard(
    page: Any, live_server: Any, shot: Any, django_user_model: Any, make_project: Any
) -> None:
    from playwright.sync_api import expect

    alice = django_user_model.objects.create_user("alice", password="alice-pass-12345")
    bob = django_user_model.objects.create_user("bob", password="bob-pass-12345")
    make_project(actor=alice, name="Alpha Site")
    make_project(actor=bob, name="Bravo Site")

    page.goto(f"{live_server.url}/")
    expect(page.locator("#id_username")).to_be_visible()  # anonymous → the login page
    shot("login")
    browser_login(page, live_server.url, "alice", "alice-pass-12345")
    expect(page.get_by_role("link", name="Alpha Site")).to_be_visible()
    expect(page.get_by_text("Bravo Site")).to_have_count(0)
    shot("dashboard")


def test_wrong_password_is_refused_with_a_message(
    page: Any, live_server: Any, shot: Any, django_user_model: Any
) -> None:
    from playwright.sync_api import expect

    django_user_model.objects.create_user("carol", password="carol-pass-12345")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "carol")
    page.fill("#id_password", "not-her-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert page.url.startswith(f"{live_server.url}/login/")
    shot("refused")
