"""Fixtures for the webhook tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def hooked(project, owner):  # type: ignore[no-untyped-def]
    """The standard project with a manifest and a webhook secret: (project, secret)."""
    from projects import services
    from tests.repos import DEMO_MANIFEST

    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST, message="first")
    secret = services.webhook_secret_regenerate(actor=owner, project=project)
    project.refresh_from_db()
    return project, secret
