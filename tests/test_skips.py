"""Tests that need chromium or npx skip locally but fail where every test must run."""

from __future__ import annotations

import pytest

from tests.skips import REQUIRE_ALL, skip_or_fail


def test_a_missing_tool_is_a_skip_with_its_reason_by_default(monkeypatch):
    monkeypatch.delenv(REQUIRE_ALL, raising=False)
    with pytest.raises(pytest.skip.Exception) as caught:
        skip_or_fail("npx is not installed")
    assert str(caught.value) == "npx is not installed"


@pytest.mark.parametrize("value", ["", "0", "yes"])
def test_only_the_value_1_turns_skips_into_failures(monkeypatch, value):
    monkeypatch.setenv(REQUIRE_ALL, value)
    with pytest.raises(pytest.skip.Exception):
        skip_or_fail("chromium is missing")


def test_a_missing_tool_fails_the_test_when_every_test_must_run(monkeypatch):
    monkeypatch.setenv(REQUIRE_ALL, "1")
    with pytest.raises(pytest.fail.Exception) as caught:
        skip_or_fail("npx is not installed")
    assert str(caught.value) == (
        "npx is not installed (BMADWEB_REQUIRE_ALL=1: this test may not be skipped)"
    )
