"""RQ entry points, and nothing else (docs/architecture.md#jobs).

Each job takes only ids, loads what it needs and calls one service. Nothing imports this
module: :mod:`provisioning.queue` enqueues the jobs by their dotted names, which keeps the
run and webhook services free of an import back to here.
"""

from __future__ import annotations

import logging

from django.conf import settings
from rq import get_current_job

from bmadweb.audit_checkpoint import audit_checkpoint
from provisioning import git_ops, queue
from provisioning.campaigns.selectors import campaign_runs_among
from provisioning.campaigns.services import campaign_run_settled, campaigns_advance
from provisioning.discovery.services import forge_source_list
from provisioning.notifications.services import notification_deliver, notifications_reconcile
from provisioning.runs.lifecycle import RunFailed, RunRetry
from provisioning.runs.schedule import drift_checks_start
from provisioning.runs.services import run_execute, runs_reconcile
from provisioning.webhooks.settle import webhooks_drain, webhooks_reconcile

logger = logging.getLogger(__name__)


def webhook_drain_job(project_id: int) -> int:
    """RQ job: settle the project's pending webhook deliveries (audit, analysis)."""
    # Cleared first: a delivery stored from now on enqueues a new job, and one stored
    # before is committed already, so the drain below sees it.
    queue.webhook_wake_clear(project_id=project_id)
    return webhooks_drain(project_id=project_id)


def discovery_list_job(source_id: int) -> int:
    """RQ job: list a discovery source's repositories with their BMAD probe and keep them
    on the source for its page. Returns how many were listed."""
    job = get_current_job()
    return forge_source_list(source_id=source_id, job_id=job.id if job is not None else "")


def run_job(run_id: int) -> None:
    """RQ job: advance one run (unless the run has been handed to another job since)."""
    job = get_current_job()
    run_execute(run_id=run_id, job_id=job.id if job is not None else None)
    campaign_run_settled(run_id=run_id)  # a campaign starts its next runs


def runs_job(run_ids: list[int]) -> None:
    """RQ job: advance a batch of runs started together, one after the other
    (docs/performance.md#batches). Each is `run_job`'s work; a run that must be tried
    again leaves the batch for a job of its own (with its retries), and a run whose
    execution raised is left to the reconciler, so neither holds up the others."""
    job = get_current_job()
    job_id = job.id if job is not None else None
    in_campaigns = campaign_runs_among(run_ids)  # not a query per run: a tick's runs have none
    for run_id in run_ids:
        try:
            run_execute(run_id=run_id, job_id=job_id)
        except RunRetry:
            if job_id is None:
                raise
            queue.run_release_and_retry(run_id=run_id, job_id=job_id)
        except RunFailed:
            pass  # its last try: the run has ended failed, with the reason
        except Exception:
            # Once this job has ended its run counts as abandoned: the reconciler resumes it.
            logger.exception("run %s: its batch job could not execute it", run_id)
            continue
        if run_id in in_campaigns:
            campaign_run_settled(run_id=run_id)  # its campaign starts its next runs


def reconcile_job() -> list[int]:
    """RQ job (scheduled): resume runs whose job was lost, and free the disk of clones
    that killed workers left behind (older than two job timeouts, so none in use)."""
    git_ops.sweep_stale_workdirs(settings.WORK_DIR, older_than_s=2 * settings.RQ_JOB_TIMEOUT)
    touched = runs_reconcile()
    campaigns_advance()
    webhooks_reconcile()  # after the runs: a slow or failing drain must not hold them up
    notifications_reconcile()
    return touched


class NotificationRetry(Exception):
    """Raised so that RQ tries the delivery again later (its Retry with backoff)."""


def notification_job(delivery_id: int) -> None:
    """RQ job: one try of a notification delivery. The last try RQ allows marks the
    delivery failed; an earlier failure raises, and RQ schedules the next try."""
    job = get_current_job()
    final = job is None or not job.retries_left
    if not notification_deliver(delivery_id=delivery_id, final=final):
        raise NotificationRetry(f"notification {delivery_id} not delivered; tried again later")


def audit_checkpoint_job() -> int:
    """RQ job (scheduled): append a signed checkpoint of the audit chain's length and head
    (docs/security.md#s21) and keep its signed copy in Redis as the next job's anchor.
    While the chain no longer extends that anchor, no checkpoint is written (and the job
    fails, loudly): the stale-checkpoint alert and `audit_verify --since-checkpoint` say so."""
    checkpoint = audit_checkpoint(previous=queue.audit_anchor_get())
    queue.audit_anchor_set(checkpoint)
    return checkpoint.record_seq


def drift_check_job() -> list[int]:
    """RQ job (scheduled every minute): start the scheduled drift checks that are due."""
    return drift_checks_start()
