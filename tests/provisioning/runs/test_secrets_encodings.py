"""A forge that echoes the token in another spelling leaks nothing (docs/security.md#s8):
the run's failure reason, run log, audit, log records and Redis are searched for every
spelling of the canary, through the real worker and a real HTTP forge."""

from __future__ import annotations

import json
import logging

import pytest

from provisioning.models import RunStatus
from tests.bmadweb.test_logscrub_encodings import leaked, variants
from tests.provisioning.runs.test_secrets_leak import (  # noqa: F401 (fixtures)
    FORGE_TOKEN,
    _everything_stored,
    _provision,
    canary_project,
    forge,
    work_dir,
)

pytestmark = pytest.mark.django_db

SPELLINGS = ["upper", "url-encoded", "spaced", "split over lines", "base64", "basic auth"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_forge_echoing_the_token_in_any_spelling_leaks_nothing(
    canary_project,  # noqa: F811
    owner,
    forge,  # noqa: F811
    work_dir,  # noqa: F811
    redis_conn,
    run_worker,
    caplog,
    django_capture_on_commit_callbacks,
    spelling,
):
    echo = variants(FORGE_TOKEN)[spelling]
    forge.fail_next(422, body=json.dumps({"message": f"Validation failed for {echo}"}))
    caplog.set_level(logging.DEBUG)
    run = _provision(canary_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert "pull request failed" in run.failure_reason
    places = _everything_stored(redis_conn, work_dir)
    places["log records"] = caplog.text.encode()
    found = {
        where: leaked(FORGE_TOKEN, text.decode(errors="replace")) for where, text in places.items()
    }
    assert {where: names for where, names in found.items() if names} == {}
