"""Browser test harness: Debian's chromium driven by Playwright against pytest-django's
live server, with a real RQ worker running in the background.

Every page a test opens records its console, uncaught errors and CSP violations; a test
fails when any of them shows a Content Security Policy refusal or a JavaScript error.
Screenshots of each step land in test-artifacts/screenshots/ (gitignored).

The browser tests skip, with the reason, when /usr/bin/chromium is missing, and fail
instead under BMADWEB_REQUIRE_ALL=1 (tests/skips.py), as in CI, which installs it with
apt; Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.skips import skip_or_fail

# Playwright's sync API keeps an asyncio loop running in this thread, which trips
# Django's async-unsafe guard for the ORM calls the tests make between page actions.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CSP_WORDS = ("Content Security Policy", "Refused to")

# Reports CSP violations from inside the page (Chromium also logs them to the console).
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__bmadwebCspCount = (window.__bmadwebCspCount || 0) + 1;
  window.__bmadwebCsp && window.__bmadwebCsp(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
  );
});
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One chromium for the session, on a fresh profile directory."""
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        skip_or_fail("playwright is not installed (make deps installs it)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@dataclass
class PageProblems:
    """What the browser complained about while a test ran."""

    console: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        found = [f"CSP violation: {text}" for text in self.csp]
        found += [f"console: {text}" for text in self.console if any(w in text for w in CSP_WORDS)]
        found += [f"uncaught JavaScript error: {text}" for text in self.errors]
        return found


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser_context: Any, problems: PageProblems, live_server: Any) -> Iterator[Any]:
    """A new tab with no cookies; fails the test on any CSP violation or page error."""
    browser_context.clear_cookies()
    tab = browser_context.new_page()
    tab.expose_function("__bmadwebCsp", lambda text: problems.csp.append(str(text)))
    tab.add_init_script(_CSP_LISTENER)
    tab.on("console", lambda msg: problems.console.append(f"[{msg.type}] {msg.text}"))
    tab.on("pageerror", lambda exc: problems.errors.append(str(exc)))
    try:
        yield tab
    finally:
        tab.close()
    failures = problems.failures()
    if failures:
        pytest.fail("the browser reported problems:\n" + "\n".join(failures))


@pytest.fixture
def shot(page: Any, request: pytest.FixtureRequest) -> Any:
    """`shot("step")` saves test-artifacts/screenshots/<test>-<step>.png (full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)

    def take(step: str) -> Path:
        path = SCREENSHOTS / f"{test_name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def browser_login(page: Any, base_url: str, username: str, password: str) -> None:
    """Sign in through the real login form and wait for the dashboard."""
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{base_url}/")


# --- A real RQ worker beside the live server ------------------------------------------


def _thread_worker_class() -> type:
    from rq import SimpleWorker
    from rq.timeouts import TimerDeathPenalty

    class ThreadWorker(SimpleWorker):
        """RQ's in-process worker, able to live outside the main thread: signal handlers
        can only be installed there, and job timeouts use a timer instead of SIGALRM."""

        death_penalty_class = TimerDeathPenalty

        def _install_signal_handlers(self) -> None:
            pass

    return ThreadWorker


class BackgroundWorker(threading.Thread):
    """Runs burst workers over the default queue until stopped, as `rqworker` would."""

    def __init__(self, shared_connections: dict[str, Any]) -> None:
        super().__init__(name="rq-burst-worker", daemon=True)
        self.stopping = threading.Event()
        self.failure: BaseException | None = None
        self.jobs_seen = 0
        self._shared = shared_connections

    def run(self) -> None:
        import django_rq
        from django.db import connections

        # An in-memory SQLite test database exists only on the test thread's connection,
        # which the live server shares the same way.
        for alias, conn in self._shared.items():
            connections[alias] = conn
        worker_class = _thread_worker_class()
        try:
            while not self.stopping.is_set():
                queue = django_rq.get_queue("default")
                if queue.count:
                    self.jobs_seen += queue.count
                    worker_class([queue], connection=queue.connection).work(burst=True)
                if not self._shared:
                    connections.close_all()
                self.stopping.wait(0.2)
        except BaseException as exc:  # reported by the fixture, in the test's thread
            self.failure = exc


@pytest.fixture
def background_worker(redis_conn: Any, live_server: Any) -> Iterator[BackgroundWorker]:
    from django.db import connections

    shared = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }
    for conn in shared.values():
        conn.inc_thread_sharing()
    worker = BackgroundWorker(shared)
    worker.start()
    try:
        yield worker
    finally:
        worker.stopping.set()
        worker.join(timeout=60)
        for conn in shared.values():
            conn.dec_thread_sharing()
    if worker.failure is not None:
        raise worker.failure
