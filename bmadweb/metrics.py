"""Prometheus metrics: platform state read at scrape time, plus request latency.

Runs, projects, webhook deliveries, queue depth and workers are read from the database
and Redis when Prometheus scrapes, so every web process answers the same numbers and no
multiprocess bookkeeping is needed for them (aggregate them across instances with
`max`, not `sum`). Request latency is measured in process memory: each process exposes
its own, unless PROMETHEUS_MULTIPROC_DIR is set (prometheus_client's multiprocess mode),
in which case every process's observations are merged from that directory.

Label values come only from closed sets (model choices, URL pattern names, HTTP methods,
status codes): never a project name, slug, user name or raw path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator

import redis
from django.conf import settings
from django.db import DatabaseError
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from bmadweb import selectors
from projects.selectors import project_count_by_sync_status
from provisioning.runs.selectors import run_count_by_kind_status, run_duration_histogram
from provisioning.webhooks.selectors import delivery_count_by_outcome

logger = logging.getLogger(__name__)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_LATENCY = Histogram(
    "bmadweb_http_request_duration_seconds",
    "Time from request to response in this process, by URL pattern name.",
    ["method", "route", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
)


def request_observe(*, method: str, route: str, status: int, seconds: float) -> None:
    """Record one request. Unknown methods collapse to "other" (clients choose them)."""
    label_method = method if method in HTTP_METHODS else "other"
    label_status = str(status) if 100 <= status <= 599 else "other"
    REQUEST_LATENCY.labels(label_method, route, label_status).observe(seconds)


def _run_families() -> Iterator[Metric]:
    runs = GaugeMetricFamily(
        "bmadweb_runs_total",
        "Runs by kind and current status (finished statuses are terminal, so they only grow).",
        labels=["kind", "status"],
    )
    for (kind, status), n in sorted(run_count_by_kind_status().items()):
        runs.add_metric([kind, status], n)
    yield runs
    histogram = run_duration_histogram()
    durations = HistogramMetricFamily(
        "bmadweb_run_duration_seconds",
        "Duration from start to finish of every finished run.",
    )
    durations.add_metric(
        [],
        buckets=[("+Inf" if b == float("inf") else repr(b), n) for b, n in histogram.buckets],
        sum_value=histogram.total_seconds,
    )
    yield durations


def _project_and_webhook_families() -> Iterator[Metric]:
    projects = GaugeMetricFamily(
        "bmadweb_projects",
        "Projects by sync status of their last analysis.",
        labels=["sync_status"],
    )
    for status, n in sorted(project_count_by_sync_status().items()):
        projects.add_metric([status], n)
    yield projects
    deliveries = delivery_count_by_outcome()
    family = GaugeMetricFamily(
        "bmadweb_webhook_deliveries_total",
        "Webhook deliveries received, by provider and outcome.",
        labels=["provider", "outcome"],
    )
    for (provider, outcome), n in sorted(deliveries.items()):
        family.add_metric([provider, outcome], n)
    yield family


def _audit_families() -> Iterator[Metric]:
    state = selectors.audit_chain_state()
    yield GaugeMetricFamily(
        "bmadweb_audit_chain_length",
        "Records in the audit chain (its head's sequence number); it never shrinks.",
        value=state.length,
    )
    yield GaugeMetricFamily(
        "bmadweb_audit_head_mac_prefix",
        "The first 48 bits of the audit chain head's MAC, as a number (compare with a "
        "checkpoint of the same length).",
        value=int(state.head_mac[:12], 16),
    )
    yield GaugeMetricFamily(
        "bmadweb_audit_checkpoint_length",
        "Chain length named by the last signed audit checkpoint (0 before the first).",
        value=state.checkpoint_length,
    )
    yield GaugeMetricFamily(
        "bmadweb_audit_checkpoint_timestamp_seconds",
        "When the last signed audit checkpoint was written (Unix time, 0 before the first).",
        value=state.checkpoint_time,
    )


def _database_families() -> Iterator[Metric]:
    up = GaugeMetricFamily("bmadweb_database_up", "1 when the database answered this scrape.")
    try:
        families = [*_run_families(), *_project_and_webhook_families(), *_audit_families()]
    except DatabaseError as exc:
        logger.warning("metrics: database unavailable (%s)", type(exc).__name__)
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    yield from families


def _queue_families() -> Iterator[Metric]:
    up = GaugeMetricFamily("bmadweb_redis_up", "1 when Redis answered this scrape.")
    try:
        client = selectors.redis_client()
        depths = selectors.queue_depth_list(client)
        workers = selectors.worker_count_live(client)
    except (redis.RedisError, OSError) as exc:
        logger.warning("metrics: redis unavailable (%s)", type(exc).__name__)
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    jobs = GaugeMetricFamily(
        "bmadweb_queue_jobs", "Jobs in the run queue by state.", labels=["queue", "state"]
    )
    for state, n in sorted(depths.items()):
        jobs.add_metric([selectors.QUEUE_NAME, state], n)
    yield jobs
    yield GaugeMetricFamily(
        "bmadweb_workers", "Live RQ workers listening on the run queue.", value=workers
    )


class StateCollector(Collector):
    """Platform state read from the database and Redis at every scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from _database_families()
        yield from _queue_families()
        yield GaugeMetricFamily(
            "bmadweb_memory_limit_bytes",
            "Resident memory one bmadweb process is meant to stay under (alerts at 80%).",
            value=settings.METRICS_MEMORY_LIMIT_BYTES,
        )

    def describe(self) -> Iterable[Metric]:
        return []  # never query at registration time


class _Chain(Collector):
    def __init__(self, *sources: Collector) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def metrics_text() -> bytes:
    """The Prometheus text exposition of everything bmadweb exports."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(merged)
        return generate_latest(_Chain(merged, StateCollector()))
    return generate_latest(_Chain(REGISTRY, StateCollector()))
