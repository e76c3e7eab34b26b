"""Fixtures for the provisioning tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.provisioning.forges.fakeforge import FakeForge


@pytest.fixture
def make_fake_forge() -> Iterator[Callable[..., FakeForge]]:
    """Start local forges (GitHub, GitLab and Gitea APIs) on 127.0.0.1, e.g. with a given
    token; every one started is stopped afterwards."""
    started: list[FakeForge] = []

    def make(**options: Any) -> FakeForge:
        forge = FakeForge(**options)
        forge.start()
        started.append(forge)
        return forge

    yield make
    for forge in started:
        forge.stop()


@pytest.fixture
def fake_forge(make_fake_forge: Callable[..., FakeForge]) -> FakeForge:
    """A fresh local forge with the default canary token."""
    return make_fake_forge()
