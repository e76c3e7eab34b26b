"""Run lifecycle: the errors a run can end with and the audited status transitions.

Execution, pull requests and the services all move runs through these functions; none of
them enqueues a run, which keeps this module at the bottom of the run package (it
imports no other run module but the run log). Two transitions queue notifications.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from bmadweb.audit import AuditEntry, audit_record, audit_record_many
from bmadweb.logscrub import scrub
from projects.models import Project, SyncStatus
from provisioning.models import (
    ACTIVE_STATUSES,
    RUN_RESULT_FIELDS,
    LogLevel,
    Run,
    RunStatus,
)
from provisioning.notifications.emit import notify_approval_needed, notify_run_failed
from provisioning.runs.runlog import run_log

if TYPE_CHECKING:
    from datetime import datetime

    from django.contrib.auth.models import AnonymousUser, User

    from projects.models import Project

# Who acts on a run: a person, or None for the system (webhooks, the reconciler).
Actor = Union["User", "AnonymousUser", None]


class RunError(Exception):
    """A run request that cannot be honoured; the message is for the person."""


class RunBusy(RunError):
    def __init__(self, active: Run | None) -> None:
        self.active = active
        what = f"{active.get_kind_display().lower()} run #{active.pk}" if active else "a run"
        super().__init__(
            f"This project is busy: {what} is still active. Wait for it to finish or cancel it."
        )


class RunFailed(Exception):
    """An expected failure: the run ends *failed* with this plain reason."""


class RunRetry(Exception):
    """A transient failure: the job is retried with backoff."""


def actor_fields(actor: Actor) -> dict[str, object]:
    if actor is not None and actor.is_authenticated:
        return {"actor": actor, "actor_name": actor.get_username()}
    return {"actor": None, "actor_name": ""}


def audit_transition(run: Run, action: str, actor: Actor = None, **extra: object) -> None:
    audit_record(
        action=f"run.{action}",
        actor=actor,
        project=run.project,
        payload={"run": run.pk, "kind": run.kind, "status": run.status, **extra},
    )


def audit_transitions(
    runs: Sequence[Run], action: str, actor: Actor = None, **extra: object
) -> None:
    """`audit_transition` for many runs, in one append to the chain."""
    audit_record_many(
        [
            AuditEntry(
                f"run.{action}",
                actor,
                run.project,
                {"run": run.pk, "kind": run.kind, "status": run.status, **extra},
            )
            for run in runs
        ]
    )


def transition(run: Run, to: RunStatus, *, allowed: tuple[str, ...], **fields: object) -> bool:
    """Compare-and-set the status; False when another process moved the run first."""
    values = {"status": to, "heartbeat": timezone.now(), **fields}
    updated = Run.objects.filter(pk=run.pk, status__in=allowed).update(**values)
    if updated:
        _written(run, values)
    return bool(updated)


def _written(run: Run, values: dict[str, object]) -> None:
    """The instance as the UPDATE left the row, without reading it back: a reload would
    also drop the loaded project and manifest revision, three queries more per transition
    (docs/performance.md#warm-cuts). The large results stay deferred (read when used); an
    expression's value is read back."""
    expressions = []
    for name, value in values.items():
        if name in RUN_RESULT_FIELDS:
            run.__dict__.pop(name, None)  # deferred again: loaded from the row when read
        elif hasattr(value, "resolve_expression"):
            expressions.append(name)
        else:
            setattr(run, name, value)
    if expressions:
        run.refresh_from_db(fields=expressions)


def retry_or_fail(run: Run, reason: str) -> None:
    run.refresh_from_db()
    if run.attempts >= settings.RUN_MAX_ATTEMPTS:
        run_finish(run, RunStatus.FAILED, reason=f"{reason} (gave up after {run.attempts} tries)")
        raise RunFailed(reason)
    run_log(run, f"{reason}; will retry.", LogLevel.WARNING)


# How the reason a run ends with is logged (failures are errors).
_REASON_LEVEL = {RunStatus.NO_CHANGES: LogLevel.INFO, RunStatus.NEEDS_ATTENTION: LogLevel.WARNING}


def run_finish(run: Run, status: RunStatus, *, reason: str = "", **fields: object) -> None:
    """End an active run in `status` (no-op if another process finished it first). The
    reason is scrubbed of secrets in any spelling (docs/security.md#s8) before it is
    stored, logged or audited."""
    reason = scrub(reason)
    moved = transition(
        run,
        status,
        allowed=ACTIVE_STATUSES,
        finished=timezone.now(),
        failure_reason=reason,
        **fields,
    )
    if not moved:
        return
    if status in (RunStatus.FAILED, RunStatus.ERRORED) and run.report is None:
        # The repository could not be analysed: the project says so on every page
        # (its last report, if any, is from an older run and says that too).
        Project.objects.filter(pk=run.project_id).update(
            sync_status=SyncStatus.ERROR, updated_at=timezone.now()
        )
    if reason:
        run_log(run, reason, _REASON_LEVEL.get(status, LogLevel.ERROR))
    audit_transition(run, status.value, reason=reason[:500])
    if status in (RunStatus.FAILED, RunStatus.ERRORED):
        notify_run_failed(run)  # queued now, sent after commit (docs/architecture.md#notifications)


def run_wait_for_approval(run: Run, **fields: object) -> None:
    """Running → awaiting approval; `fields` are written in the same update (the plan)."""
    if transition(run, RunStatus.AWAITING_APPROVAL, allowed=(RunStatus.RUNNING,), **fields):
        run_log(run, "The plan needs an approver before it is applied.")
        audit_transition(run, "awaiting_approval")
        notify_approval_needed(run)


def run_start_applying(run: Run, **fields: object) -> bool:
    """Running → applying; `fields` are written in the same update (the plan)."""
    return transition(run, RunStatus.APPLYING, allowed=(RunStatus.RUNNING,), **fields)


def run_pr_state_record(
    *,
    project: Project,
    branch: str,
    url: str,
    state: str,
    at: datetime,
    actor: Actor = None,
) -> Run | None:
    """Record what the forge says of a run's pull request: the run of `project` that
    pushed `branch` (or opened the request at `url`). None when no run matches, or when
    the run's own request is another one (same branch name, other request). An older
    event than the one recorded changes nothing; a change is audited ``run.pr_state``."""
    candidates = project.runs.filter(Q(branch=branch) | Q(pr_url=url) if url else Q(branch=branch))
    run = candidates.order_by("-created", "-pk").first()
    if run is None or (url and run.pr_url and run.pr_url != url):
        return None
    moved = (
        Run.objects.filter(pk=run.pk)
        .filter(Q(pr_state_at__isnull=True) | Q(pr_state_at__lte=at))
        .exclude(pr_state=state)
        .update(pr_state=state, pr_state_at=at)
    )
    if moved:
        project_pr_state_refresh([project.pk])
        before = run.pr_state
        run.refresh_from_db()
        audit_record(
            action="run.pr_state",
            actor=actor,
            project=project,
            payload={"run": run.pk, "from": before, "to": state, "branch": branch, "url": url},
        )
    return run


def newest_pr_state() -> Subquery:
    """The pull request state of the newest run (by created, then id) that has one, of the
    project in the outer query: what ``Project.pr_state`` holds."""
    runs = Run.objects.filter(project=OuterRef("pk")).exclude(pr_state="")
    return Subquery(runs.order_by("-created", "-pk").values("pr_state")[:1])


def project_pr_state_refresh(project_ids: list[int]) -> None:
    """Set ``Project.pr_state`` of these projects from their runs again: after a run's
    pull request state moved, or runs were deleted. Each project row is locked first, so
    that two runs of a project moving at once both count: the second update waits for
    the first to commit, then reads its run (docs/performance.md#pages)."""
    if not project_ids:
        return
    with transaction.atomic():
        found = Project.objects.select_for_update().filter(pk__in=project_ids).order_by("pk")
        locked = list(found.values_list("pk", flat=True))
        Project.objects.filter(pk__in=locked).update(
            pr_state=Coalesce(newest_pr_state(), Value(""))
        )
