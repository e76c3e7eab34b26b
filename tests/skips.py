"""Skips that a CI run turns into failures.

A few tests need tools a developer may not have: Debian's chromium (the browser tests)
and npx with the npm registry (real BMAD installs). Locally they skip with the reason.
With BMADWEB_REQUIRE_ALL=1, which .ci/run sets, the same reason fails the test instead,
so a CI run that could not run them is red rather than quietly green.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ALL = "BMADWEB_REQUIRE_ALL"


def skips_are_failures() -> bool:
    return os.environ.get(REQUIRE_ALL, "") == "1"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it when every test must run."""
    if skips_are_failures():
        pytest.fail(f"{reason} ({REQUIRE_ALL}=1: this test may not be skipped)", pytrace=False)
    pytest.skip(reason)
