"""Closing superseded pull requests (provisioning.forges.pulls): only the older bmadweb
pulls of the project against its base are closed, each with a comment, across pages; a
failure leaves the pull open and never shows the canary token. Nothing leaves loopback."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from provisioning.forges import (
    AUTH_REFUSED,
    UNEXPECTED_ANSWER,
    ForgeError,
    ForgeTransientError,
    PullRequest,
    close_superseded_pull_requests,
)
from tests.provisioning.forges.fakeforge import FAKE_FORGE_TOKEN, FakeForge, FakePull
from tests.provisioning.forges.forge_helpers import (
    BASE,
    HEAD,
    KINDS,
    REPOS,
    SCENARIOS,
    everything_said_about,
    repo_on,
)

PREFIX = "bmadweb/demo/"
SUPERSEDED = "Superseded by https://forge.example/pull/9 (bmadweb run #42)."
CLOSE_METHOD = {"github": "PATCH", "gitlab": "PUT", "gitea": "PATCH"}
CLOSE_BODY = {
    "github": {"state": "closed"},
    "gitlab": {"state_event": "close"},
    "gitea": {"state": "closed"},
}


def close_superseded(forge: FakeForge, kind: str, **overrides: Any) -> list[PullRequest]:
    options: dict[str, Any] = {
        "token": forge.token,
        "branch_prefix": PREFIX,
        "keep_branch": HEAD,
        "base_branch": BASE,
        "comment": SUPERSEDED,
        "timeout_s": 5.0,
    } | overrides
    return close_superseded_pull_requests(
        options.pop("repo", None) or repo_on(forge, kind), **options
    )


def seed_mixed_pulls(forge: FakeForge, kind: str) -> dict[str, FakePull]:
    """Two older bmadweb pulls of the project, and pulls that must be left alone."""
    repo = REPOS[kind]
    return {
        "older": forge.add_pull(kind, repo, head=f"{PREFIX}40", base=BASE),
        "unrelated": forge.add_pull(kind, repo, head="feature/login", base=BASE),
        "fork": forge.add_pull(kind, repo, head=f"{PREFIX}39", base=BASE, head_repo="x/repo"),
        "oldest": forge.add_pull(kind, repo, head=f"{PREFIX}38", base=BASE),
        "current": forge.add_pull(kind, repo, head=HEAD, base=BASE),
        "other project": forge.add_pull(kind, repo, head="bmadweb/demo-two/7", base=BASE),
        "other base": forge.add_pull(kind, repo, head=f"{PREFIX}37", base="develop"),
    }


def close_error(forge: FakeForge, kind: str = "github", **overrides: Any) -> ForgeError:
    with pytest.raises(ForgeError) as caught:
        close_superseded(forge, kind, **overrides)
    return caught.value


@pytest.mark.parametrize("kind", KINDS)
def test_only_the_older_bmadweb_pulls_of_the_project_are_closed(
    fake_forge: FakeForge, kind: str
) -> None:
    pulls = seed_mixed_pulls(fake_forge, kind)
    close_superseded(fake_forge, kind)
    assert {name for name, pull in pulls.items() if pull.state == "closed"} == {
        "older",
        "oldest",
    }


@pytest.mark.parametrize("kind", KINDS)
def test_closed_pulls_are_returned_with_their_web_pages(fake_forge: FakeForge, kind: str) -> None:
    pulls = seed_mixed_pulls(fake_forge, kind)
    closed = close_superseded(fake_forge, kind)
    expected = [pulls["older"].number, pulls["oldest"].number]
    assert sorted(p.number for p in closed) == expected
    assert {p.url.rsplit("/", 1)[1] for p in closed} == {str(n) for n in expected}
    assert all(p.url.startswith("https://") and p.created is False for p in closed)


@pytest.mark.parametrize("kind", KINDS)
def test_each_closed_pull_gets_the_comment_and_no_other_pull_does(
    fake_forge: FakeForge, kind: str
) -> None:
    pulls = seed_mixed_pulls(fake_forge, kind)
    close_superseded(fake_forge, kind)
    assert {name: pull.comments for name, pull in pulls.items() if pull.comments} == {
        "older": [SUPERSEDED],
        "oldest": [SUPERSEDED],
    }


@pytest.mark.parametrize("kind", KINDS)
def test_close_uses_the_forge_method_and_body(fake_forge: FakeForge, kind: str) -> None:
    older = fake_forge.add_pull(kind, REPOS[kind], head=f"{PREFIX}40", base=BASE)
    close_superseded(fake_forge, kind)
    [close] = fake_forge.requests_of(kind, CLOSE_METHOD[kind])
    assert (close.path.rsplit("/", 1)[1], close.json) == (str(older.number), CLOSE_BODY[kind])


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("github", "/repos/org/repo/issues/1/comments"),
        ("gitlab", "/projects/group%2Fsub%2Frepo/merge_requests/1/notes"),
        ("gitea", "/repos/org/repo/issues/1/comments"),
    ],
)
def test_comment_goes_to_the_forge_comment_endpoint_before_the_close(
    fake_forge: FakeForge, kind: str, path: str
) -> None:
    fake_forge.add_pull(kind, REPOS[kind], head=f"{PREFIX}40", base=BASE)
    close_superseded(fake_forge, kind)
    [comment, close] = [r for r in fake_forge.requests_of(kind) if r.method != "GET"]
    assert (comment.method, comment.path, comment.json) == ("POST", path, {"body": SUPERSEDED})
    assert close.method == CLOSE_METHOD[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_closed_pulls_are_no_longer_listed_as_open(fake_forge: FakeForge, kind: str) -> None:
    seed_mixed_pulls(fake_forge, kind)
    close_superseded(fake_forge, kind)
    assert close_superseded(fake_forge, kind) == []


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_is_closed_when_no_pull_matches(fake_forge: FakeForge, kind: str) -> None:
    pulls = seed_mixed_pulls(fake_forge, kind)
    for name in ("older", "oldest"):
        pulls[name].state = "closed"  # already closed by hand
    assert close_superseded(fake_forge, kind) == []
    assert [r.method for r in fake_forge.requests_of(kind) if r.method != "GET"] == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_superseded_pull_is_closed_across_pages(fake_forge: FakeForge, kind: str) -> None:
    # 70 of them: closing while paging would shift later pulls onto pages already read.
    for n in range(100, 170):
        fake_forge.add_pull(kind, REPOS[kind], head=f"{PREFIX}{n}", base=BASE)
    assert len(close_superseded(fake_forge, kind)) == 70
    assert {p.state for p in fake_forge.pulls_of(kind)} == {"closed"}


@pytest.mark.parametrize("kind", KINDS)
def test_superseded_pull_after_many_others_is_found_on_a_later_page(
    fake_forge: FakeForge, kind: str
) -> None:
    for n in range(120):
        fake_forge.add_pull(kind, REPOS[kind], head=f"feature/{n}", base=BASE)
    older = fake_forge.add_pull(kind, REPOS[kind], head=f"{PREFIX}40", base=BASE)
    assert [p.number for p in close_superseded(fake_forge, kind)] == [older.number]


@pytest.mark.parametrize("prefix", ["", "bmadweb/demo", "bmadweb/demo/\n", "two words/"])
def test_prefix_that_is_not_a_branch_folder_is_refused_before_any_request(
    fake_forge: FakeForge, prefix: str
) -> None:
    fake_forge.add_pull("github", "org/repo", head=f"{PREFIX}40", base=BASE)
    close_error(fake_forge, branch_prefix=prefix)
    assert fake_forge.requests == []


def test_empty_comment_is_refused_before_any_request(fake_forge: FakeForge) -> None:
    close_error(fake_forge, comment="  ")
    assert fake_forge.requests == []


@pytest.mark.parametrize("kind", KINDS)
def test_failed_comment_leaves_the_pull_open(fake_forge: FakeForge, kind: str) -> None:
    older = fake_forge.add_pull(kind, REPOS[kind], head=f"{PREFIX}40", base=BASE)
    fake_forge.fail_next(403, method="POST")
    assert close_error(fake_forge, kind).message == AUTH_REFUSED
    assert older.state == "open"


@pytest.mark.parametrize("kind", KINDS)
def test_forge_down_while_closing_is_transient(fake_forge: FakeForge, kind: str) -> None:
    fake_forge.add_pull(kind, REPOS[kind], head=f"{PREFIX}40", base=BASE)
    fake_forge.fail_next(503, method=CLOSE_METHOD[kind])
    assert isinstance(close_error(fake_forge, kind), ForgeTransientError)


def test_malformed_listed_pull_is_an_unexpected_answer(fake_forge: FakeForge) -> None:
    listed = b'[{"state": "open", "head": {"ref": "bmadweb/demo/40", "repo": {"full_name": '
    listed += b'"org/repo"}}, "base": {"ref": "main"}, "number": "1"}]'
    fake_forge.garbage_next(listed)
    assert close_error(fake_forge).message == UNEXPECTED_ANSWER
    assert [r.method for r in fake_forge.requests_of("github") if r.method != "GET"] == []


def _close_echoing_token(forge: FakeForge, kind: str, method: str) -> ForgeError:
    forge.add_pull(kind, REPOS[kind], head=f"{PREFIX}40", base=BASE)
    echo = f'{{"message": "token {FAKE_FORGE_TOKEN} may not do this"}}'
    forge.fail_next(422, body=echo.encode(), method=method)
    return close_error(forge, kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("step", ["list", "comment", "close"])
def test_canary_token_never_appears_in_a_close_error_or_the_logs(
    fake_forge: FakeForge, kind: str, step: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    method = {"list": "GET", "comment": "POST", "close": CLOSE_METHOD[kind]}[step]
    error = _close_echoing_token(fake_forge, kind, method)
    assert "[token]" in error.message  # the forge's message was quoted, token replaced
    assert FAKE_FORGE_TOKEN not in everything_said_about(error)
    assert FAKE_FORGE_TOKEN not in caplog.text


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_canary_token_never_appears_when_closing_fails(
    fake_forge: FakeForge, scenario: str
) -> None:
    error = close_error(fake_forge, **SCENARIOS[scenario](fake_forge))
    assert FAKE_FORGE_TOKEN not in everything_said_about(error)
