"""Fixtures for the notification tests: a local receiver and a worker that also runs the
retries RQ scheduled (promoted at once instead of waiting for their backoff)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.provisioning.notifications.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def run_all(run_worker) -> Callable[[], int]:  # type: ignore[no-untyped-def]
    """Run the queue until it is empty, moving each scheduled retry to the queue as if
    its backoff had passed; returns how many retries were promoted."""
    import django_rq
    from rq.job import Job

    def work() -> int:
        queue = django_rq.get_queue("default")
        registry = queue.scheduled_job_registry
        promoted = 0
        for _ in range(20):
            run_worker()
            ids = registry.get_job_ids()
            if not ids:
                return promoted
            for job_id in ids:
                job = Job.fetch(job_id, connection=queue.connection)
                registry.remove(job)
                queue.enqueue_job(job)
                promoted += 1
        raise AssertionError("the queue never emptied")

    return work
