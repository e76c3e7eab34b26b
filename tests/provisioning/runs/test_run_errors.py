"""A run never ends with a raw Python exception as its reason (docs/security.md#s8): an
unexpected error reads "internal error" with a reference, and the details, scrubbed, go
to the server log under that reference."""

from __future__ import annotations

import logging
import re

import pytest

from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import execution, services

pytestmark = pytest.mark.django_db


def test_unexpected_error_reads_internal_error_with_a_reference(
    bmad_project, owner, monkeypatch, caplog
):
    def explode(run: Run) -> None:
        raise KeyError("/srv/secret/path: ghp_" + "x" * 36)

    monkeypatch.setattr(execution, "plan_phase", explode)
    run = services.run_create(
        project=bmad_project, kind=RunKind.ANALYZE, actor=owner, enqueue=False
    )
    with caplog.at_level(logging.ERROR, logger="provisioning.runs.services"):
        services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.ERRORED
    match = re.fullmatch(r"internal error \(reference ([0-9a-f]{12})\)", run.failure_reason)
    assert match, run.failure_reason
    assert "KeyError" not in run.failure_reason
    assert "/srv/secret" not in run.failure_reason
    # The server log has the details under the reference, scrubbed of the token.
    [logged] = [r.getMessage() for r in caplog.records if match.group(1) in r.getMessage()]
    assert "KeyError" in logged
    assert "ghp_" + "x" * 36 not in logged
    # The run log, which project viewers read, has the reference only.
    lines = " ".join(entry.message for entry in run.log_entries.all())
    assert match.group(1) in lines
    assert "/srv/secret" not in lines
