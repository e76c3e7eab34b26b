"""Pull/merge requests on GitHub, GitLab and Gitea against a local fake forge (fakeforge.py):
idempotent open-or-update, the create race, error mapping, the answer cap, no redirects, a
canary token that never leaks, closing superseded requests, and repository URL parsing.
Nothing leaves loopback."""

from __future__ import annotations

import logging
import socket
import traceback
from typing import Any

import pytest

from provisioning.forges import (
    AUTH_REFUSED,
    REPO_NOT_FOUND,
    UNEXPECTED_ANSWER,
    ForgeError,
    ForgeRepo,
    ForgeTransientError,
    PullRequest,
    close_superseded_pull_requests,
    forge_repo_from_url,
    open_or_update_pull_request,
)
from tests.provisioning.forges.fakeforge import FAKE_FORGE_TOKEN, FakeForge, FakePull

KINDS = ["github", "gitlab", "gitea"]
REPOS = {"github": "org/repo", "gitlab": "group/sub/repo", "gitea": "org/repo"}
HEAD, BASE = "bmadweb/demo/42", "main"
EXPECTED_URL = {
    "github": "https://github.example/org/repo/pull/1",
    "gitlab": "https://gitlab.example/group/sub/repo/-/merge_requests/1",
    "gitea": "https://gitea.example/org/repo/pulls/1",
}
EXPECTED_AUTH = {
    "github": ("authorization", f"Bearer {FAKE_FORGE_TOKEN}"),
    "gitlab": ("private-token", FAKE_FORGE_TOKEN),
    "gitea": ("authorization", f"token {FAKE_FORGE_TOKEN}"),
}
EXPECTED_CREATE_BODY = {
    "github": {"title": "Provision BMAD", "head": HEAD, "base": BASE, "body": "the plan"},
    "gitlab": {
        "source_branch": HEAD,
        "target_branch": BASE,
        "title": "Provision BMAD",
        "description": "the plan",
    },
    "gitea": {"head": HEAD, "base": BASE, "title": "Provision BMAD", "body": "the plan"},
}
UPDATE_METHOD = {"github": "PATCH", "gitlab": "PUT", "gitea": "PATCH"}
UPDATE_BODY = {
    "github": {"title": "Provision BMAD v2", "body": "the new plan"},
    "gitlab": {"title": "Provision BMAD v2", "description": "the new plan"},
    "gitea": {"title": "Provision BMAD v2", "body": "the new plan"},
}


def repo_on(forge: FakeForge, kind: str) -> ForgeRepo:
    return ForgeRepo(kind=kind, api_base=forge.base_url(kind), owner_path=REPOS[kind])  # type: ignore[arg-type]


def open_pr(
    forge: FakeForge,
    kind: str,
    *,
    title: str = "Provision BMAD",
    body: str = "the plan",
    **overrides: Any,
) -> PullRequest:
    options: dict[str, Any] = {"token": forge.token, "timeout_s": 5.0} | overrides
    return open_or_update_pull_request(
        options.pop("repo", None) or repo_on(forge, kind),
        head_branch=HEAD,
        base_branch=BASE,
        title=title,
        body=body,
        **options,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed when the block ends: nobody listens


def forge_error(forge: FakeForge, kind: str = "github", **overrides: Any) -> ForgeError:
    with pytest.raises(ForgeError) as caught:
        open_pr(forge, kind, **overrides)
    return caught.value


# --- open, then update --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_first_call_creates_a_pull_request(fake_forge: FakeForge, kind: str) -> None:
    assert open_pr(fake_forge, kind) == PullRequest(EXPECTED_URL[kind], 1, created=True)


@pytest.mark.parametrize("kind", KINDS)
def test_create_sends_the_forge_shaped_json_body(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    [create] = fake_forge.requests_of(kind, "POST")
    assert create.json == EXPECTED_CREATE_BODY[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_every_request_carries_the_forge_auth_header(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    name, value = EXPECTED_AUTH[kind]
    assert {r.headers.get(name) for r in fake_forge.requests_of(kind)} == {value}


@pytest.mark.parametrize("kind", KINDS)
def test_every_request_names_bmadweb_as_user_agent(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    assert {r.headers.get("user-agent") for r in fake_forge.requests_of(kind)} == {"bmadweb"}


def test_github_requests_ask_for_the_versioned_json_api(fake_forge: FakeForge) -> None:
    open_pr(fake_forge, "github")
    headers = fake_forge.requests_of("github")[0].headers
    assert (headers["accept"], headers["x-github-api-version"]) == (
        "application/vnd.github+json",
        "2022-11-28",
    )


@pytest.mark.parametrize("kind", KINDS)
def test_second_call_updates_the_same_pull_request(fake_forge: FakeForge, kind: str) -> None:
    first = open_pr(fake_forge, kind)
    second = open_pr(fake_forge, kind, title="Provision BMAD v2", body="the new plan")
    assert second == PullRequest(first.url, first.number, created=False)


@pytest.mark.parametrize("kind", KINDS)
def test_second_call_leaves_one_pull_request_with_the_new_text(
    fake_forge: FakeForge, kind: str
) -> None:
    open_pr(fake_forge, kind)
    open_pr(fake_forge, kind, title="Provision BMAD v2", body="the new plan")
    assert [(p.title, p.body) for p in fake_forge.pulls_of(kind)] == [
        ("Provision BMAD v2", "the new plan")
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_update_uses_the_forge_method_and_body(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    open_pr(fake_forge, kind, title="Provision BMAD v2", body="the new plan")
    [update] = fake_forge.requests_of(kind, UPDATE_METHOD[kind])
    assert (update.path.rsplit("/", 1)[1], update.json) == ("1", UPDATE_BODY[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_unchanged_pull_request_is_not_written_again(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    open_pr(fake_forge, kind)
    assert [r.method for r in fake_forge.requests_of(kind) if r.method != "GET"] == ["POST"]


def test_github_looks_up_by_owner_qualified_head_and_base(fake_forge: FakeForge) -> None:
    open_pr(fake_forge, "github")
    lookup = fake_forge.requests_of("github", "GET")[0]
    assert lookup.query == {"head": f"org:{HEAD}", "base": BASE, "state": "open"}


def test_gitlab_project_path_is_url_encoded_as_one_segment(fake_forge: FakeForge) -> None:
    open_pr(fake_forge, "gitlab")
    assert {r.path for r in fake_forge.requests_of("gitlab")} == {
        "/projects/group%2Fsub%2Frepo/merge_requests"
    }


def test_gitlab_looks_up_opened_merge_requests_by_branches(fake_forge: FakeForge) -> None:
    open_pr(fake_forge, "gitlab")
    lookup = fake_forge.requests_of("gitlab", "GET")[0]
    assert lookup.query == {"source_branch": HEAD, "target_branch": BASE, "state": "opened"}


def test_gitea_finds_the_open_pull_request_on_a_later_page(fake_forge: FakeForge) -> None:
    for n in range(60):
        fake_forge.add_pull("gitea", "org/repo", head=f"feature/{n}", base=BASE)
    existing = fake_forge.add_pull("gitea", "org/repo", head=HEAD, base=BASE)
    assert open_pr(fake_forge, "gitea").number == existing.number


def test_gitea_walks_pages_until_it_finds_the_pull_request(fake_forge: FakeForge) -> None:
    for n in range(60):
        fake_forge.add_pull("gitea", "org/repo", head=f"feature/{n}", base=BASE)
    fake_forge.add_pull("gitea", "org/repo", head=HEAD, base=BASE)
    open_pr(fake_forge, "gitea")
    assert [r.query["page"] for r in fake_forge.requests_of("gitea", "GET")] == ["1", "2"]


@pytest.mark.parametrize("kind", ["github", "gitea"])
def test_pull_request_from_a_fork_with_the_same_branch_is_ignored(
    fake_forge: FakeForge, kind: str
) -> None:
    fake_forge.add_pull(kind, "org/repo", head=HEAD, base=BASE, head_repo="someone/repo")
    assert open_pr(fake_forge, kind).created is True


def test_gitlab_merge_request_from_a_fork_is_ignored(fake_forge: FakeForge) -> None:
    fake_forge.add_pull("gitlab", "group/sub/repo", head=HEAD, base=BASE, head_repo="x/repo")
    assert open_pr(fake_forge, "gitlab").created is True


# --- the create race ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_create_race_returns_the_pull_request_someone_else_opened(
    fake_forge: FakeForge, kind: str
) -> None:
    existing = fake_forge.add_pull(kind, REPOS[kind], head=HEAD, base=BASE)
    fake_forge.hide_pulls_from_next_list()  # our look-up misses it, our create collides
    assert open_pr(fake_forge, kind) == PullRequest(EXPECTED_URL[kind], existing.number, False)


@pytest.mark.parametrize("kind", KINDS)
def test_create_race_leaves_a_single_pull_request(fake_forge: FakeForge, kind: str) -> None:
    fake_forge.add_pull(kind, REPOS[kind], head=HEAD, base=BASE)
    fake_forge.hide_pulls_from_next_list()
    open_pr(fake_forge, kind)
    assert len(fake_forge.pulls_of(kind)) == 1


def test_github_race_really_went_through_the_422(fake_forge: FakeForge) -> None:
    fake_forge.add_pull("github", "org/repo", head=HEAD, base=BASE)
    fake_forge.hide_pulls_from_next_list()
    open_pr(fake_forge, "github")
    assert [r.method for r in fake_forge.requests_of("github")] == ["GET", "POST", "GET", "PATCH"]


def test_create_conflict_without_a_listed_pull_request_is_an_error(
    fake_forge: FakeForge,
) -> None:
    fake_forge.add_pull("github", "org/repo", head=HEAD, base=BASE)
    fake_forge.hide_pulls_from_next_list(count=2)
    assert "does not list it" in forge_error(fake_forge).message


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_refused_token_gives_a_plain_sentence(fake_forge: FakeForge, kind: str) -> None:
    assert forge_error(fake_forge, kind, token="wrong-token").message == AUTH_REFUSED


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_is_not_worth_retrying(fake_forge: FakeForge, status: int) -> None:
    fake_forge.fail_next(status)
    assert not isinstance(forge_error(fake_forge), ForgeTransientError)


def test_missing_repository_gives_a_plain_sentence(fake_forge: FakeForge) -> None:
    fake_forge.fail_next(404)
    assert forge_error(fake_forge, "gitlab").message == REPO_NOT_FOUND


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_busy_or_broken_forge_is_transient(fake_forge: FakeForge, status: int) -> None:
    fake_forge.fail_next(status)
    assert isinstance(forge_error(fake_forge), ForgeTransientError)


def test_github_rate_limit_403_is_transient(fake_forge: FakeForge) -> None:
    fake_forge.fail_next(403, headers={"X-RateLimit-Remaining": "0"})
    assert isinstance(forge_error(fake_forge), ForgeTransientError)


def test_retry_after_is_passed_on(fake_forge: FakeForge) -> None:
    fake_forge.fail_next(429, headers={"Retry-After": "7"})
    error = forge_error(fake_forge)
    assert isinstance(error, ForgeTransientError)
    assert error.retry_after == 7.0


def test_unreachable_forge_is_transient(fake_forge: FakeForge) -> None:
    repo = ForgeRepo("github", f"http://127.0.0.1:{closed_port()}", "org/repo")
    assert isinstance(forge_error(fake_forge, repo=repo), ForgeTransientError)


def test_slow_forge_times_out_as_transient(fake_forge: FakeForge) -> None:
    fake_forge.delay_next(30)  # cut short when the fixture stops the fake
    assert isinstance(forge_error(fake_forge, timeout_s=0.2), ForgeTransientError)


def test_other_refusal_quotes_the_forge_message(fake_forge: FakeForge) -> None:
    fake_forge.fail_next(422, body=b'{"message": "Validation Failed"}')
    assert forge_error(fake_forge).message == (
        "the forge refused the request (HTTP 422): Validation Failed"
    )


@pytest.mark.parametrize(
    "garbage",
    [
        b"<html>surprise</html>",
        b"\xff\xfe not utf-8",
        b"",
        b"[" * 100_000,
        b'{"number": 1}',  # an object where a list is expected
        b'["not a pull request"]',
    ],
    ids=["html", "bytes", "empty", "deep", "object", "strings"],
)
def test_garbage_answer_is_an_unexpected_answer(fake_forge: FakeForge, garbage: bytes) -> None:
    fake_forge.garbage_next(garbage)
    fake_forge.garbage_next(garbage)  # in case the first was shrugged off as "no pulls"
    error = forge_error(fake_forge)
    assert (type(error), error.message) == (ForgeError, UNEXPECTED_ANSWER)


@pytest.mark.parametrize(
    "created",
    [
        b'{"number": 1}',
        b'{"number": "1", "html_url": "https://x.example/1"}',
        b'{"number": true, "html_url": "https://x.example/1"}',
        b'{"number": 1, "html_url": "javascript:alert(1)"}',
    ],
    ids=["no-url", "string-number", "bool-number", "script-url"],
)
def test_malformed_created_pull_request_is_refused(fake_forge: FakeForge, created: bytes) -> None:
    fake_forge.garbage_next(b"[]")
    fake_forge.fail_next(201, body=created)
    assert forge_error(fake_forge).message == UNEXPECTED_ANSWER


def test_oversized_answer_is_refused(fake_forge: FakeForge) -> None:
    fake_forge.oversize_next()
    assert "too large" in forge_error(fake_forge).message


def test_redirect_is_not_followed(fake_forge: FakeForge) -> None:
    fake_forge.redirect_next(f"{fake_forge.origin}/elsewhere/repos/org/repo/pulls")
    assert "redirect" in forge_error(fake_forge).message


def test_redirect_target_is_never_requested(fake_forge: FakeForge) -> None:
    fake_forge.redirect_next(f"{fake_forge.origin}/elsewhere/repos/org/repo/pulls")
    forge_error(fake_forge)
    assert fake_forge.requests_of("elsewhere") == []


@pytest.mark.parametrize("token", ["", "two words", "line\nbreak"])
def test_malformed_token_is_refused_before_any_request(fake_forge: FakeForge, token: str) -> None:
    forge_error(fake_forge, token=token)
    assert fake_forge.requests == []


# --- the canary token never leaks ---------------------------------------------------------


def _trigger_401(forge: FakeForge) -> dict[str, Any]:
    forge.fail_next(401, body=b'{"message": "Bad credentials"}')
    return {}


def _trigger_echoed_token(forge: FakeForge) -> dict[str, Any]:
    echo = f'{{"message": "token {FAKE_FORGE_TOKEN} is not allowed here"}}'
    forge.fail_next(422, body=echo.encode())
    return {}


def _trigger_redirect(forge: FakeForge) -> dict[str, Any]:
    forge.redirect_next(f"http://127.0.0.1:{closed_port()}/login")
    return {}


def _trigger_unreachable(forge: FakeForge) -> dict[str, Any]:
    return {"repo": ForgeRepo("gitea", f"http://127.0.0.1:{closed_port()}", "org/repo")}


def _trigger_server_error(forge: FakeForge) -> dict[str, Any]:
    forge.fail_next(500, body=FAKE_FORGE_TOKEN.encode())
    return {}


def _trigger_garbage(forge: FakeForge) -> dict[str, Any]:
    forge.garbage_next(FAKE_FORGE_TOKEN.encode())
    return {}


def _trigger_oversize(forge: FakeForge) -> dict[str, Any]:
    forge.oversize_next()
    return {}


def _trigger_timeout(forge: FakeForge) -> dict[str, Any]:
    forge.delay_next(30)
    return {"timeout_s": 0.3}


SCENARIOS = {
    "refused": _trigger_401,
    "echoed": _trigger_echoed_token,
    "redirect": _trigger_redirect,
    "unreachable": _trigger_unreachable,
    "server-error": _trigger_server_error,
    "garbage": _trigger_garbage,
    "oversize": _trigger_oversize,
    "timeout": _trigger_timeout,
}


def _everything_said_about(error: BaseException) -> str:
    return " ".join([str(error), repr(error), repr(error.args), *traceback.format_exception(error)])


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_canary_token_never_appears_in_the_error(fake_forge: FakeForge, scenario: str) -> None:
    error = forge_error(fake_forge, **SCENARIOS[scenario](fake_forge))
    assert FAKE_FORGE_TOKEN not in _everything_said_about(error)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_canary_token_never_appears_in_the_logs(
    fake_forge: FakeForge, scenario: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    forge_error(fake_forge, **SCENARIOS[scenario](fake_forge))
    assert FAKE_FORGE_TOKEN not in caplog.text


def test_canary_token_never_appears_in_the_logs_of_a_success(
    fake_forge: FakeForge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    open_pr(fake_forge, "gitlab")
    assert "forge gitlab POST" in caplog.text
    assert FAKE_FORGE_TOKEN not in caplog.text


def test_echoed_token_is_replaced_in_the_quoted_message(fake_forge: FakeForge) -> None:
    _trigger_echoed_token(fake_forge)
    assert "[token]" in forge_error(fake_forge).message


# --- closing superseded pull requests ---------------------------------------------------

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
    assert FAKE_FORGE_TOKEN not in _everything_said_about(error)
    assert FAKE_FORGE_TOKEN not in caplog.text


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_canary_token_never_appears_when_closing_fails(
    fake_forge: FakeForge, scenario: str
) -> None:
    error = close_error(fake_forge, **SCENARIOS[scenario](fake_forge))
    assert FAKE_FORGE_TOKEN not in _everything_said_about(error)


# --- repository URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "expected"),
    [
        ("https://github.com/org/repo.git", "github", ("https://api.github.com", "org/repo")),
        ("https://github.com/org/repo", "github", ("https://api.github.com", "org/repo")),
        ("https://github.com/org/repo/", "github", ("https://api.github.com", "org/repo")),
        ("git@github.com:org/repo.git", "github", ("https://api.github.com", "org/repo")),
        ("ssh://git@github.com/org/repo.git", "github", ("https://api.github.com", "org/repo")),
        ("https://ghe.corp.example/org/r", "github", ("https://ghe.corp.example/api/v3", "org/r")),
        (
            "https://gitlab.com/group/sub/repo.git",
            "gitlab",
            ("https://gitlab.com/api/v4", "group/sub/repo"),
        ),
        (
            "git@gitlab.example.org:group/sub/deeper/my.repo.git",
            "gitlab",
            ("https://gitlab.example.org/api/v4", "group/sub/deeper/my.repo"),
        ),
        (
            "ssh://git@gitlab.example.org:2222/group/repo.git",
            "gitlab",
            ("https://gitlab.example.org/api/v4", "group/repo"),
        ),
        (
            "https://gitlab.example.org:8443/group/repo.git",
            "gitlab",
            ("https://gitlab.example.org:8443/api/v4", "group/repo"),
        ),
        (
            "https://codeberg.org/Org/Re_po.git",
            "gitea",
            ("https://codeberg.org/api/v1", "Org/Re_po"),
        ),
        ("gitea@Git.Example.com:org/repo", "gitea", ("https://git.example.com/api/v1", "org/repo")),
    ],
)
def test_repository_url_gives_api_base_and_owner_path(
    url: str, kind: str, expected: tuple[str, str]
) -> None:
    repo = forge_repo_from_url(url, kind)
    assert (repo.kind, repo.api_base, repo.owner_path) == (kind, *expected)


def test_api_url_overrides_the_default_base() -> None:
    repo = forge_repo_from_url(
        "git@gitea.corp:org/repo.git", "gitea", "http://127.0.0.1:3000/api/v1/"
    )
    assert repo.api_base == "http://127.0.0.1:3000/api/v1"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://github.com/org/../repo.git", "github"),
        ("https://github.com/../../etc/passwd", "gitlab"),
        ("git@github.com:org/..", "github"),
        ("https://github.com/org//repo", "github"),
        ("https://github.com/org/re%2e%2e", "github"),
        ("https://github.com/org/re po", "github"),
        ("https://github.com/org/repo?x=1", "github"),
        ("https://github.com/org/sub/repo", "github"),
        ("https://gitea.example/org/sub/repo", "gitea"),
        ("https://gitlab.com/repo", "gitlab"),
        ("https://user:pw@github.com/org/repo", "github"),
        ("http://github.com/org/repo", "github"),
        ("file:///srv/org/repo", "github"),
        ("/srv/org/repo", "github"),
        ("https://[::1]/org/repo", "github"),
        ("https://github.com/org/repo", "bitbucket"),
        ("", "github"),
    ],
)
def test_unsafe_or_foreign_repository_url_is_refused(url: str, kind: str) -> None:
    with pytest.raises(ForgeError):
        forge_repo_from_url(url, kind)


@pytest.mark.parametrize(
    "api_url", ["ftp://forge.example/api", "https://u:p@forge.example/api", "https://"]
)
def test_unsafe_api_url_is_refused(api_url: str) -> None:
    with pytest.raises(ForgeError):
        forge_repo_from_url("https://github.com/org/repo", "github", api_url)


@pytest.mark.parametrize("owner_path", ["org/..", "org/repo/../x", "org/", "org/re\npo"])
def test_forge_repo_built_directly_still_checks_its_owner_path(owner_path: str) -> None:
    with pytest.raises(ForgeError):
        ForgeRepo("gitlab", "https://gitlab.com/api/v4", owner_path)
