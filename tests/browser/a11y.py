"""Accessibility and layout checks for the browser tests.

`axe_check` runs axe-core (vendored under static/vendor/axe-core/) in the page through
Playwright's evaluate, which the page's CSP does not govern, so the page under test keeps
its strict policy. Serious and critical violations fail the test; the others are
returned for the record.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

AXE_DIR = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@cache
def _axe_source() -> str:
    (script,) = sorted(AXE_DIR.glob("axe-*.min.js"))
    return script.read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Every axe violation on the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        """async () => {
            const r = await window.axe.run(document, { resultTypes: ["violations"] });
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => ({
                    target: n.target.join(" "), summary: n.failureSummary })),
            }));
        }"""
    )
    return list(result)


def axe_check(page: Any, where: str = "") -> list[dict[str, Any]]:
    """Fail on any serious or critical violation; return the minor ones."""
    found = axe_violations(page)
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"accessibility violations on {where or page.url}:\n" + json.dumps(
        bad, indent=1
    )
    return found


def no_horizontal_overflow(page: Any) -> None:
    """Nothing wider than the window: columns are never cut, tables stack or scroll in
    their own box."""
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]}px wide in a {width[1]}px window"


_FOCUSABLE = (
    "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), "
    "select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])"
)


def keyboard_reaches_everything(page: Any, where: str = "") -> int:
    """Tab through the whole page and check every visible control got the focus (the
    manifest editor is left with Escape then Tab, as its hint says). Returns how many."""
    expected = page.evaluate(
        """(sel) => {
            const all = [...document.querySelectorAll(sel)].filter(
                el => el.checkVisibility() && !el.closest('[hidden],[aria-hidden=true]'));
            all.forEach((el, i) => el.dataset.kbd = String(i));
            return all.length;
        }""",
        _FOCUSABLE,
    )
    page.evaluate("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur()")
    page.locator("body").focus()
    seen: set[str] = set()
    for _ in range(expected * 2 + 20):
        page.keyboard.press("Tab")
        state = page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return {kbd: null, editor: false};
                const inner = el.shadowRoot && el.shadowRoot.activeElement;
                return {kbd: el.dataset.kbd ?? null,
                        editor: !!(inner && inner.classList.contains('cm-content'))};
            }"""
        )
        if state["editor"]:
            seen.add("editor")
            page.keyboard.press("Escape")
        elif state["kbd"] is not None:
            seen.add(state["kbd"])
    missing = page.evaluate(
        """(seen) => [...document.querySelectorAll('[data-kbd]')]
            .filter(el => !seen.includes(el.dataset.kbd))
            .map(el => el.outerHTML.slice(0, 120))""",
        sorted(seen),
    )
    assert not missing, f"the keyboard never reaches these on {where or page.url}: {missing}"
    return len(seen)
