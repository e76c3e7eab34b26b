"""The RQ worker class bmadweb's workers run (``settings.RQ["WORKER_CLASS"]``): RQ's own
forking worker, with what every job needs loaded once, in the parent, before the first
fork (docs/performance.md#preloaded-worker).

RQ's worker forks a work horse per job, and the horse starts from the parent's memory.
What the parent never loaded, every horse loads again and throws away when it exits:
GitPython (whose import runs ``git version``), the engine with the fingerprint of its own
source, the run services. Loaded in the parent, every horse inherits them. Nothing here
opens a database or Redis connection: one made before a fork would be shared by every
horse, so any an import opened is closed again.
"""

from __future__ import annotations

import gc
from typing import Any

from django.db import connections
from rq.worker import Worker as ForkingWorker

from provisioning import git_ops


def preload() -> None:
    """Load what every job needs, then leave no database connection open."""
    from provisioning import jobs  # noqa: F401 - the runs, the engine, the notifications

    git_ops.load_gitpython()
    connections.close_all()
    # What is loaded now lives as long as the worker: out of the collector's sight, so a
    # horse's collections do not write to (and copy) the pages it shares with the parent.
    gc.freeze()


class Worker(ForkingWorker):
    """RQ's forking worker (a horse per job: killed on its time-out, its crash its own),
    with :func:`preload` run once, before it takes its first job."""

    def work(self, *args: Any, **kwargs: Any) -> bool:
        preload()
        return super().work(*args, **kwargs)
