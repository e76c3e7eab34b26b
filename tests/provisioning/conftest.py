"""Fixtures for the provisioning tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.provisioning.fakeforge import FakeForge


@pytest.fixture
def fake_forge() -> Iterator[FakeForge]:
    """A fresh local forge (GitHub, GitLab and Gitea APIs) on 127.0.0.1, stopped afterwards."""
    forge = FakeForge()
    forge.start()
    try:
        yield forge
    finally:
        forge.stop()
