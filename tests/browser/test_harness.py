"""The harness itself: a CSP refusal in the page must be caught, or the other browser
tests would pass while the page is broken."""

from __future__ import annotations

from typing import Any

STRICT = "default-src 'self'; script-src 'self'; style-src 'self'"


def test_inline_script_refused_by_csp_is_reported(
    page: Any, live_server: Any, problems: Any
) -> None:
    probe = f"{live_server.url}/__csp-probe__"
    page.route(
        probe,
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Type": "text/html", "Content-Security-Policy": STRICT},
            body="<!doctype html><p style='color:red'>x</p><script>document.title='ran'</script>",
        ),
    )
    page.goto(probe)
    page.wait_for_function("window.__bmadwebCspCount >= 2")  # the style and the script
    assert page.title() != "ran"
    found = problems.failures()
    assert any("script-src" in text for text in found), found
    assert any(text.startswith("console:") for text in found), found
    problems.csp.clear()  # expected here; the fixture must not fail this test
    problems.console.clear()
