"""Fixtures shared by the run tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from tests.provisioning.forges.forge_helpers import closed_port


@pytest.fixture
def redis_down() -> Iterator[None]:
    """The queue's Redis refuses connections."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    with override_settings(RQ_QUEUES={"default": {"URL": url}}):
        yield
