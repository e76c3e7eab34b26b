"""Fixtures for the provisioning tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.provisioning.fakeforge import FakeForge


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


@pytest.fixture
def hooked(project, owner):  # type: ignore[no-untyped-def]
    """The standard project with a manifest and a webhook secret: (project, secret)."""
    from projects import services
    from tests.repos import DEMO_MANIFEST

    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST, message="first")
    secret = services.webhook_secret_regenerate(actor=owner, project=project)
    project.refresh_from_db()
    return project, secret
