"""Fixtures shared by the run tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from tests.provisioning.forges.forge_helpers import closed_port


@pytest.fixture
def redis_down() -> Iterator[None]:
    """The queue's Redis refuses connections."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    with override_settings(RQ_QUEUES={"default": {"URL": url}}):
        yield


@pytest.fixture
def work(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Work folders (and the mirrors) under this test's folder, mirrors on."""
    settings.WORK_DIR = tmp_path / "work"
    settings.MIRROR_BUDGET_MB = 64
    return tmp_path / "work"
