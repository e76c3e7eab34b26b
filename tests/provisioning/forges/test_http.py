"""What the forge door makes of the forge's answers (provisioning.forges.http): refused
tokens, missing repositories, busy forges and rate limits, garbage, oversized answers
and redirects become plain errors, and the canary token never appears in an error or a
log. Nothing leaves loopback."""

from __future__ import annotations

import logging

import pytest

from provisioning.forges import (
    AUTH_REFUSED,
    REPO_NOT_FOUND,
    UNEXPECTED_ANSWER,
    ForgeError,
    ForgeRepo,
    ForgeTransientError,
)
from tests.provisioning.forges.fakeforge import FAKE_FORGE_TOKEN, FakeForge
from tests.provisioning.forges.forge_helpers import (
    KINDS,
    SCENARIOS,
    closed_port,
    everything_said_about,
    forge_error,
    open_pr,
    trigger_echoed_token,
)

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


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_canary_token_never_appears_in_the_error(fake_forge: FakeForge, scenario: str) -> None:
    error = forge_error(fake_forge, **SCENARIOS[scenario](fake_forge))
    assert FAKE_FORGE_TOKEN not in everything_said_about(error)


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
    trigger_echoed_token(fake_forge)
    assert "[token]" in forge_error(fake_forge).message
