"""Periodic jobs, for RQ's cron scheduler: `python manage.py rqcron provisioning.scheduler`.

Every RECONCILE_EVERY_S seconds the scheduler puts `reconcile_job` on the default queue
(and every BMADWEB_AUDIT_CHECKPOINT_SECONDS `audit_checkpoint_job`);
a worker runs it and resumes runs whose job was lost (Redis down when the run was
created, a worker killed mid-run), so no run waits for a person to notice. Reconciling
is idempotent, so a second scheduler (or an overlapping tick) does no harm.

Every DRIFT_CHECK_EVERY_S seconds `drift_check_job` starts the scheduled drift checks
that are due (provisioning.runs.schedule); it is idempotent too.

This module is a cron configuration (RQ >= 2.5): importing it registers the jobs with
`rq.cron`, and `CronScheduler.load_config_from_file` collects them.
"""

from __future__ import annotations

from django.conf import settings
from rq import cron

from provisioning.jobs import audit_checkpoint_job, drift_check_job, reconcile_job

RECONCILE_EVERY_S = 60

cron.register(
    reconcile_job,
    queue_name="default",
    interval=RECONCILE_EVERY_S,
    # A tick that waited behind long runs is useless once the next one is due.
    ttl=RECONCILE_EVERY_S,
    job_timeout=RECONCILE_EVERY_S,
    result_ttl=RECONCILE_EVERY_S * 5,
)

# A signed checkpoint of the audit chain (docs/security.md#s21) every
# BMADWEB_AUDIT_CHECKPOINT_SECONDS; `audit_verify --since-checkpoint` fails once the last
# one is older than two intervals, which is what removing the chain's tail looks like.
cron.register(
    audit_checkpoint_job,
    queue_name="default",
    interval=settings.AUDIT_CHECKPOINT_SECONDS,
    ttl=settings.AUDIT_CHECKPOINT_SECONDS,
    job_timeout=60,
    result_ttl=settings.AUDIT_CHECKPOINT_SECONDS,
)

DRIFT_CHECK_EVERY_S = 60

cron.register(
    drift_check_job,
    queue_name="default",
    interval=DRIFT_CHECK_EVERY_S,
    ttl=DRIFT_CHECK_EVERY_S,
    job_timeout=DRIFT_CHECK_EVERY_S,
    result_ttl=DRIFT_CHECK_EVERY_S * 5,
)
