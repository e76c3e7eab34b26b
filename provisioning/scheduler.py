"""Periodic jobs, for RQ's cron scheduler: `python manage.py rqcron provisioning.scheduler`.

Every RECONCILE_EVERY_S seconds the scheduler puts `reconcile_job` on the default queue;
a worker runs it and resumes runs whose job was lost (Redis down when the run was
created, a worker killed mid-run), so no run waits for a person to notice. Reconciling
is idempotent, so a second scheduler (or an overlapping tick) does no harm.

Every DRIFT_CHECK_EVERY_S seconds `drift_check_job` starts the scheduled drift checks
that are due (provisioning.runs.schedule); it is idempotent too.

This module is a cron configuration (RQ >= 2.5): importing it registers the jobs with
`rq.cron`, and `CronScheduler.load_config_from_file` collects them.
"""

from __future__ import annotations

from rq import cron

from provisioning.jobs import drift_check_job, reconcile_job

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

DRIFT_CHECK_EVERY_S = 60

cron.register(
    drift_check_job,
    queue_name="default",
    interval=DRIFT_CHECK_EVERY_S,
    ttl=DRIFT_CHECK_EVERY_S,
    job_timeout=DRIFT_CHECK_EVERY_S,
    result_ttl=DRIFT_CHECK_EVERY_S * 5,
)
