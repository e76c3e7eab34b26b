"""Many requests at once (docs/security.md#s18): one active run per project, enforced by the
database. Real threads, each with its own connection to the real test database (a file
for SQLite, PostgreSQL in CI's second pass)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection

from provisioning.models import Run, RunKind
from provisioning.runs import services

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = 20


def _all_at_once(call: Callable[[], object], count: int = REQUESTS) -> list[object]:
    """Call `call` from `count` threads released together; results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def one(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _kinds(results: list[object]) -> Counter[str]:
    return Counter(type(result).__name__ for result in results)


def test_twenty_concurrent_requests_make_one_run_and_nineteen_busy_answers(bmad_project, owner):
    results = _all_at_once(
        lambda: services.run_create(
            project=bmad_project, kind=RunKind.PROVISION, actor=owner, enqueue=False
        )
    )
    assert _kinds(results) == Counter({"Run": 1, "RunBusy": REQUESTS - 1})
    assert Run.objects.count() == 1
    [run] = [r for r in results if isinstance(r, Run)]
    assert {r.active.pk for r in results if isinstance(r, services.RunBusy)} == {run.pk}


def test_twenty_concurrent_coalescing_requests_all_get_the_same_run(bmad_project):
    results = _all_at_once(
        lambda: services.run_create(
            project=bmad_project, kind=RunKind.ANALYZE, coalesce=True, enqueue=False
        )
    )
    assert _kinds(results) == Counter({"Run": REQUESTS})
    assert {r.pk for r in results if isinstance(r, Run)} == {Run.objects.get().pk}


def test_concurrent_reconcilers_enqueue_a_waiting_run_once(bmad_project, redis_conn):
    run = services.run_create(project=bmad_project, kind=RunKind.ANALYZE, enqueue=False)
    Run.objects.filter(pk=run.pk).update(job_id="")  # its enqueue was lost
    results = _all_at_once(lambda: services.runs_reconcile(stale_after=timedelta(hours=1)), 8)
    assert sorted(map(str, results)) == sorted([f"[{run.pk}]"] + ["[]"] * 7)
    assert redis_conn.llen("rq:queue:default") == 1
