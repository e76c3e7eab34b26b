"""Helpers for the journeys: a project creator, typing into the manifest editor, and
looking at a page at both widths (screenshot, accessibility check, no overflow)."""

from __future__ import annotations

from typing import Any

from tests.browser.a11y import DESKTOP, PHONE, axe_check, no_horizontal_overflow


def make_creator(django_user_model: Any, username: str, password: str) -> Any:
    """A user who may register repositories (member of "Project creators")."""
    from tests.projects.creators import creators_group

    user = django_user_model.objects.create_user(username, password=password)
    user.groups.add(creators_group())
    return user


def type_manifest(page: Any, text: str) -> None:
    """Replace the manifest in the editor (CodeMirror) the way typing would: through its
    editable area, so its change listener feeds the form field and the live checks."""
    content = page.locator(".cm-content")
    content.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    content.fill(text)


def look(page: Any, shot: Any, name: str, *, reload: bool = True) -> None:
    """The page at 1280 and at 390 px: an accessibility check and a full-page screenshot
    at each width, and nothing wider than the phone's screen. Ends at 1280 px."""
    for size, label in ((DESKTOP, "1280"), (PHONE, "390")):
        page.set_viewport_size(size)
        if reload:
            page.reload()
        page.wait_for_load_state("load")
        if size is PHONE:
            no_horizontal_overflow(page)
        axe_check(page, f"{name} at {label} px")
        shot(f"{name}-{label}")
    page.set_viewport_size(DESKTOP)
    if reload:
        page.reload()
