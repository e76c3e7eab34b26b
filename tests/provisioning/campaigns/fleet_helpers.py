"""Pull requests as the forge reports them, for the fleet view's tests."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs.lifecycle import run_pr_state_record


def pull_request_run(project: Any, state: str, *, status: str = RunStatus.PUSHED) -> Run:
    """A provisioning run that pushed a branch, whose pull request the forge then says is
    `state`: recorded through run_pr_state_record, as the webhooks record it."""
    run = Run.objects.create(project=project, kind=RunKind.PROVISION, status=status)
    branch = f"bmadweb/{project.slug}/{run.pk}"
    Run.objects.filter(pk=run.pk).update(branch=branch)
    pull_request_state(project, run, state, branch=branch)
    run.refresh_from_db()
    return run


def pull_request_state(project: Any, run: Run, state: str, *, branch: str = "") -> None:
    """The forge says the pull request of `run` is now `state`."""
    found = run_pr_state_record(
        project=project, branch=branch or run.branch, url="", state=state, at=timezone.now()
    )
    assert found is not None
    assert found.pk == run.pk
