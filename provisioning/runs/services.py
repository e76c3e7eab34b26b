"""Run lifecycle services: create, approve, cancel, execute, reconcile.

    queued → running → (awaiting_approval →) applying → pushed / needs_attention
                    ↘ succeeded (analyze) / no_changes / needs_attention / failed / errored
                      / cancelled

Upgrade runs follow the same path (runs/upgrade.py): the plan phase runs BMAD's
official installer in the clone before planning, and waits for approval by default.

needs_attention: the plan left unresolved conflicts; what could be written was pushed.

The Run row exists before anything is enqueued; enqueueing happens on commit; at most
one active run per project is enforced by a partial unique index. Every transition is
audited.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from projects.models import Project
from projects.roles import Perm
from projects.selectors import (
    base_numbers,
    manifest_latest,
    manifest_resolve,
    manifests_latest,
)
from provisioning.models import (
    ACTIVE_STATUSES,
    RUN_RESULT_FIELDS,
    Campaign,
    LogLevel,
    Run,
    RunKind,
    RunStatus,
    RunTrigger,
)
from provisioning.queue import INLINE_JOB, job_is_alive, run_enqueue, runs_enqueue
from provisioning.runs import execution, upgrade
from provisioning.runs.lifecycle import (
    Actor,
    RunBusy,
    RunError,
    RunFailed,
    RunRetry,
    actor_fields,
    audit_transition,
    audit_transitions,
    retry_or_fail,
    run_finish,
    transition,
)
from provisioning.runs.runlog import run_log

logger = logging.getLogger(__name__)


def run_create(
    *,
    project: Project,
    kind: RunKind,
    actor: Actor = None,
    trigger: RunTrigger = RunTrigger.MANUAL,
    coalesce: bool = False,
    enqueue: bool = True,
    require_manifest: bool = False,
    target_version: str = "",
    campaign: Campaign | None = None,
) -> Run:
    """Create a queued run and enqueue it once the transaction commits.

    An analysis may run before the project has a manifest: it is then an install audit
    (the BMAD install and its findings), from which the editor offers a starter manifest.
    Provisioning needs a manifest, and so does any run with `require_manifest` (webhooks).

    With `coalesce`, a request while a run of the same kind is still queued returns that
    run (webhook bursts); otherwise a busy project raises RunBusy. `enqueue=False` is for
    callers that execute the run inline (the CLI's --wait). An upgrade run needs the
    exact BMAD version to upgrade to (`target_version`, e.g. "6.12.0").
    """
    revision = manifest_latest(project)
    if revision is None and (kind != RunKind.ANALYZE or require_manifest):
        what = "provisioning" if kind != RunKind.ANALYZE else "running"
        raise RunError(f"This project has no manifest yet: save one before {what}.")
    # The bases' revisions are pinned now, so approval and apply see the same manifest.
    # A text without the word "extends" names no base: nothing to resolve for that.
    pinned = (
        base_numbers(manifest_resolve(revision.yaml_text).base_names)
        if revision is not None and "extends" in revision.yaml_text
        else {}
    )
    target_version = target_version_checked(kind, target_version)
    try:
        with transaction.atomic():
            run = Run.objects.create(
                project=project,
                kind=kind,
                trigger=trigger,
                manifest_revision=revision,
                base_revisions=pinned,
                target_version=target_version,
                campaign=campaign,
                job_id="" if enqueue else INLINE_JOB,
                **actor_fields(actor),
            )
            extra: dict[str, object] = {"target_version": target_version} if target_version else {}
            if campaign is not None:
                extra["campaign"] = campaign.pk
            audit_transition(run, "create", actor, trigger=str(trigger), **extra)
            if enqueue:
                transaction.on_commit(partial(run_enqueue, run_id=run.pk))
    except IntegrityError:
        active = Run.objects.filter(project=project, status__in=ACTIVE_STATUSES).first()
        if (
            coalesce
            and active is not None
            and active.kind == kind
            and active.status == RunStatus.QUEUED
        ):
            return active
        raise RunBusy(active) from None
    return run


class AnalysesStarted(NamedTuple):
    runs: list[Run]
    busy: list[int]  # projects skipped: a run is active
    without_manifest: list[int]  # projects skipped: no manifest (with require_manifest)


def analyses_start(
    projects: Sequence[Project],
    *,
    trigger: RunTrigger,
    actor: Actor = None,
    require_manifest: bool = False,
) -> AnalysesStarted:
    """Start an analysis of each project in one go (a fleet's drift checks): what
    `run_create` does for one, with one INSERT of the runs and one of their audit
    records, and their jobs enqueued in one Redis pipeline after the commit
    (docs/performance.md#fleet). Busy projects are skipped, and so are projects without
    a manifest when `require_manifest`; the result names both."""
    if not projects:
        return AnalysesStarted([], [], [])
    revisions = manifests_latest(p.pk for p in projects)
    wanted = [p for p in projects if p.pk in revisions or not require_manifest]
    without = [p.pk for p in projects if require_manifest and p.pk not in revisions]
    pinned = {
        project_id: base_numbers(manifest_resolve(revision.yaml_text).base_names)
        for project_id, revision in revisions.items()
        if "extends" in revision.yaml_text
    }
    try:
        with transaction.atomic():
            busy = set(
                Run.objects.filter(project__in=wanted, status__in=ACTIVE_STATUSES).values_list(
                    "project_id", flat=True
                )
            )
            runs = Run.objects.bulk_create(
                Run(
                    project=project,
                    kind=RunKind.ANALYZE,
                    trigger=trigger,
                    manifest_revision=revisions.get(project.pk),
                    base_revisions=pinned.get(project.pk, {}),
                    **actor_fields(actor),
                )
                for project in wanted
                if project.pk not in busy
            )
            audit_transitions(runs, "create", actor, trigger=str(trigger))
            transaction.on_commit(partial(runs_enqueue, run_ids=[run.pk for run in runs]))
    except IntegrityError:
        # Another process started a run meanwhile: one at a time, skipping the busy.
        started, busy_now = [], []
        for project in wanted:
            try:
                started.append(
                    run_create(
                        project=project,
                        kind=RunKind.ANALYZE,
                        actor=actor,
                        trigger=trigger,
                        require_manifest=require_manifest,
                    )
                )
            except RunBusy:
                busy_now.append(project.pk)
        return AnalysesStarted(started, busy_now, without)
    return AnalysesStarted(runs, sorted(busy), without)


# The permission a run of each kind needs on its project (an upgrade is a provisioning).
KIND_PERM: dict[str, Perm] = {
    RunKind.ANALYZE: Perm.ANALYZE,
    RunKind.PROVISION: Perm.PROVISION,
    RunKind.UPGRADE: Perm.PROVISION,
}


_EXACT_VERSION = re.compile(r"\d{1,4}\.\d{1,4}\.\d{1,4}(?:-[0-9A-Za-z][0-9A-Za-z.]{0,30})?")


def target_version_checked(kind: RunKind | str, target_version: str) -> str:
    """The target of an upgrade run (other kinds take none), or RunError."""
    target = (target_version or "").strip()
    if kind != RunKind.UPGRADE:
        if target:
            raise RunError("Only upgrade runs take a BMAD version.")
        return ""
    if not _EXACT_VERSION.fullmatch(target):
        raise RunError(
            "Give the exact BMAD version to upgrade to, e.g. 6.12.0 (not a range or a tag)."
        )
    return target


@transaction.atomic
def run_approve(*, run: Run, actor: Actor, enqueue: bool = True) -> Run:
    if not transition(
        run,
        RunStatus.APPLYING,
        allowed=(RunStatus.AWAITING_APPROVAL,),
        approved_by=actor if actor and actor.is_authenticated else None,
        approved_at=timezone.now(),
        job_id="" if enqueue else INLINE_JOB,
    ):
        raise RunError(
            f"Run #{run.pk} is {run.get_status_display().lower()}, not awaiting approval."
        )
    run_log(run, f"Approved by {run.approved_by or 'system'}; applying.")
    audit_transition(run, "approve", actor)
    if enqueue:
        transaction.on_commit(partial(run_enqueue, run_id=run.pk))
    return run


@transaction.atomic
def run_cancel(*, run: Run, actor: Actor) -> Run:
    if not transition(
        run,
        RunStatus.CANCELLED,
        allowed=(RunStatus.QUEUED, RunStatus.AWAITING_APPROVAL),
        finished=timezone.now(),
    ):
        raise RunError(
            f"Run #{run.pk} is {run.get_status_display().lower()} and can no longer be cancelled."
        )
    run_log(
        run,
        f"Cancelled by {actor.get_username() if actor and actor.is_authenticated else 'system'}.",
    )
    audit_transition(run, "cancel", actor)
    return run


# --- Execution (called by the RQ job) ----------------------------------------------------


def run_execute(*, run_id: int, job_id: str | None = None) -> None:
    """Do the next phase of a run. Expected failures end it *failed*, others *errored*;
    RunRetry propagates so RQ retries the job with backoff.

    `job_id` is the RQ job executing this (None: inline). A job that is no longer the
    run's job (the reconciler replaced it after its worker died, and RQ later retried the
    abandoned one) does nothing, so a run never executes twice at once.
    """
    # The report, plan and diff (megabytes for a large manifest) stay in the database
    # until a step reads them: every status transition reloads the run.
    run = (
        Run.objects.select_related("project", "manifest_revision")
        .defer(*RUN_RESULT_FIELDS)
        .get(pk=run_id)
    )
    if job_id is not None and run.job_id != job_id:
        return
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        phase = "plan"
        # The start and its audit record in one transaction: one turn at SQLite's single
        # writer instead of two (docs/performance.md#fleet).
        with transaction.atomic():
            if not transition(
                run,
                RunStatus.RUNNING,
                allowed=(RunStatus.QUEUED, RunStatus.RUNNING),
                started=run.started or timezone.now(),
                attempts=run.attempts + 1,
            ):
                return
            if run.attempts == 1:
                audit_transition(run, "start")
    elif run.status == RunStatus.APPLYING:
        phase = "apply"
        run.attempts += 1
        Run.objects.filter(pk=run.pk).update(attempts=run.attempts, heartbeat=timezone.now())
    else:
        return  # finished or waiting for approval: nothing to do
    phases = upgrade if run.kind == RunKind.UPGRADE else execution
    try:
        if phase == "plan":
            phases.plan_phase(run)
        else:
            phases.apply_phase(run)
    except RunRetry as exc:
        retry_or_fail(run, str(exc))
        raise
    except RunFailed as exc:
        run_finish(run, RunStatus.FAILED, reason=str(exc))
    except Exception:
        # Never the exception itself as the reason (it may carry paths, data or secrets
        # in its text): a reference the server log names, with the scrubbed details.
        reference = uuid.uuid4().hex[:12]
        logger.exception("run %s: unexpected error, reference %s", run.pk, reference)
        run_log(
            run,
            f"Internal error (reference {reference}); the details are in the server log.",
            LogLevel.ERROR,
        )
        run_finish(run, RunStatus.ERRORED, reason=f"internal error (reference {reference})")


# --- Reconciliation (the scheduler calls this periodically) ------------------------------


# Statuses in which a run needs a job to move on (awaiting approval waits for a person).
_EXECUTABLE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.APPLYING)


def runs_reconcile(*, stale_after: timedelta | None = None) -> list[int]:
    """Re-enqueue runs whose job was lost (queue down at creation, or a worker that died).

    Runs without a job are enqueued; queued runs whose job vanished, and running/applying
    runs with no progress for `stale_after` or a dead job, go back to the queue (or fail
    after the last attempt). Idempotent and safe to run concurrently: every hand-over is
    a compare-and-set on the run's job id. Returns the ids of the runs it touched.
    """
    stale_after = (
        stale_after if stale_after is not None else timedelta(seconds=settings.RUN_STALE_SECONDS)
    )
    touched: list[int] = []
    for run in Run.objects.filter(status__in=_EXECUTABLE, job_id=""):
        if run_enqueue(run_id=run.pk):
            touched.append(run.pk)
    cutoff = timezone.now() - stale_after
    for run in Run.objects.filter(status__in=_EXECUTABLE).exclude(job_id=""):
        if not _abandoned(run, cutoff):
            continue
        if run.attempts >= settings.RUN_MAX_ATTEMPTS:
            touched.append(run.pk)
            run_finish(
                run,
                RunStatus.FAILED,
                reason=f"The worker stopped during the run {run.attempts} times; giving up.",
            )
            continue
        # Compare-and-set on the job id: of two reconcilers racing, one resumes the run.
        released = Run.objects.filter(pk=run.pk, status=run.status, job_id=run.job_id).update(
            job_id="", heartbeat=timezone.now()
        )
        if not released:
            continue
        touched.append(run.pk)
        if run.status != RunStatus.QUEUED:
            run_log(
                run, "The worker running this stopped unexpectedly; resuming.", LogLevel.WARNING
            )
        run_enqueue(run_id=run.pk)
    return touched


def _abandoned(run: Run, cutoff: datetime) -> bool:
    """A queued run waits for its job however long the queue is (its job was given to it
    before `cutoff`: not one being enqueued right now); a started run, or one executed
    inline by the CLI, must also show progress since `cutoff`."""
    alive = job_is_alive(run.job_id)
    fresh = (run.heartbeat or run.created) > cutoff
    if run.status == RunStatus.QUEUED and run.job_id != INLINE_JOB:
        return not alive and not fresh
    return not (alive and fresh)
