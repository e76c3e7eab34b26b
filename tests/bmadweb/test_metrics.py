"""/metrics: not public, values follow the data, labels never carry user data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import django_rq
import pytest
from django.apps import apps
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker

from bmadweb.metrics import metrics_text
from projects.models import SyncStatus
from provisioning.models import Run, RunKind, RunStatus

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _metrics_token(settings):  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW_INTERNAL = False


def _scrape(client) -> dict[str, list]:  # type: ignore[no-untyped-def]
    """Every sample of a scrape, by sample name."""
    response = client.get(reverse("ops:metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def _value(samples: dict[str, list], name: str, **labels: str) -> float:
    matching = [s.value for s in samples.get(name, []) if s.labels == labels]
    assert len(matching) == 1, f"{name}{labels}: {matching}"
    return float(matching[0])


def _finished_run(project, kind: str, status: str, seconds: float | None = None) -> Run:  # type: ignore[no-untyped-def]
    started = timezone.now() - timedelta(hours=1)
    return Run.objects.create(
        project=project,
        kind=kind,
        status=status,
        started=started,
        finished=started + timedelta(seconds=seconds) if seconds is not None else None,
    )


# --- access --------------------------------------------------------------------------


def test_metrics_without_token_is_404(client):
    assert client.get(reverse("ops:metrics")).status_code == 404


def test_metrics_with_wrong_token_is_404(client):
    response = client.get(reverse("ops:metrics"), HTTP_AUTHORIZATION="Bearer not-the-token")
    assert response.status_code == 404


def test_metrics_with_token_in_another_scheme_is_404(client):
    response = client.get(reverse("ops:metrics"), HTTP_AUTHORIZATION=f"Basic {TOKEN}")
    assert response.status_code == 404


def test_metrics_with_token_is_prometheus_text(client):
    response = client.get(reverse("ops:metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


def test_empty_configured_token_never_matches_an_empty_bearer(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get(reverse("ops:metrics"), HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404


def test_internal_access_allows_loopback_when_enabled(client, settings):
    settings.METRICS_ALLOW_INTERNAL = True
    assert client.get(reverse("ops:metrics"), REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get(reverse("ops:metrics"), REMOTE_ADDR="::1").status_code == 200


def test_internal_access_refuses_other_addresses_and_proxied_requests(client, settings):
    settings.METRICS_ALLOW_INTERNAL = True
    assert client.get(reverse("ops:metrics"), REMOTE_ADDR="10.1.2.3").status_code == 404
    proxied = client.get(
        reverse("ops:metrics"), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert proxied.status_code == 404


def test_loopback_is_refused_when_internal_access_is_off(client):
    assert client.get(reverse("ops:metrics"), REMOTE_ADDR="127.0.0.1").status_code == 404


# --- values follow the data ----------------------------------------------------------


def test_runs_are_counted_by_kind_and_status(client, project, redis_conn):
    before = _scrape(client)
    assert _value(before, "bmadweb_runs_total", kind="analyze", status="succeeded") == 0
    for _ in range(3):
        _finished_run(project, RunKind.ANALYZE, RunStatus.SUCCEEDED, 2)
    for _ in range(2):
        _finished_run(project, RunKind.PROVISION, RunStatus.FAILED, 2)
    _finished_run(project, RunKind.ANALYZE, RunStatus.QUEUED)
    after = _scrape(client)
    assert _value(after, "bmadweb_runs_total", kind="analyze", status="succeeded") == 3
    assert _value(after, "bmadweb_runs_total", kind="provision", status="failed") == 2
    assert _value(after, "bmadweb_runs_total", kind="analyze", status="queued") == 1
    assert _value(after, "bmadweb_runs_total", kind="provision", status="pushed") == 0


def test_run_durations_fill_the_histogram_buckets(client, project, redis_conn):
    for seconds in (0.5, 3, 100):
        _finished_run(project, RunKind.ANALYZE, RunStatus.SUCCEEDED, seconds)
    _finished_run(project, RunKind.ANALYZE, RunStatus.RUNNING)  # not finished: not counted
    samples = _scrape(client)
    bucket = "bmadweb_run_duration_seconds_bucket"
    assert _value(samples, bucket, le="1.0") == 1
    assert _value(samples, bucket, le="5.0") == 2
    assert _value(samples, bucket, le="60.0") == 2
    assert _value(samples, bucket, le="120.0") == 3
    assert _value(samples, bucket, le="+Inf") == 3
    assert _value(samples, "bmadweb_run_duration_seconds_count") == 3
    assert _value(samples, "bmadweb_run_duration_seconds_sum") == pytest.approx(103.5)


def test_projects_are_counted_by_sync_status(client, project, redis_conn):
    assert _value(_scrape(client), "bmadweb_projects", sync_status="never") == 1
    project.sync_status = SyncStatus.DRIFT
    project.save(update_fields=["sync_status"])
    samples = _scrape(client)
    assert _value(samples, "bmadweb_projects", sync_status="never") == 0
    assert _value(samples, "bmadweb_projects", sync_status="drift") == 1


def test_queue_depth_and_live_workers_come_from_redis(client, redis_conn):
    # A plain rq Queue: django_rq's queue would wait for a commit the test never makes.
    queue = Queue("default", connection=django_rq.get_connection("default"))
    before = _scrape(client)
    assert _value(before, "bmadweb_queue_jobs", queue="default", state="queued") == 0
    assert _value(before, "bmadweb_workers") == 0
    queue.enqueue("provisioning.jobs.reconcile_job")
    queue.enqueue("provisioning.jobs.reconcile_job")
    worker = Worker([queue], connection=queue.connection)
    worker.register_birth()
    try:
        after = _scrape(client)
    finally:
        worker.register_death()
    assert _value(after, "bmadweb_redis_up") == 1
    assert _value(after, "bmadweb_queue_jobs", queue="default", state="queued") == 2
    assert _value(after, "bmadweb_workers") == 1


def test_unreachable_redis_is_reported_and_the_scrape_still_answers(client, project):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    url = f"redis://127.0.0.1:{port}/0"
    with override_settings(RQ_QUEUES={"default": {"URL": url}}):
        samples = _scrape(client)
    assert _value(samples, "bmadweb_redis_up") == 0
    assert "bmadweb_workers" not in samples
    assert _value(samples, "bmadweb_projects", sync_status="never") == 1


def test_webhook_deliveries_are_counted_by_provider_and_outcome(client, project, redis_conn):
    delivery = apps.get_model("provisioning", "WebhookDelivery")
    for n, outcome in enumerate(["accepted", "accepted", "rejected"]):
        delivery.objects.create(
            project=project, provider="github", delivery_id=f"d-{n}", outcome=outcome
        )
    samples = _scrape(client)
    name = "bmadweb_webhook_deliveries_total"
    assert _value(samples, name, provider="github", outcome="accepted") == 2
    assert _value(samples, name, provider="github", outcome="rejected") == 1
    assert _value(samples, name, provider="gitlab", outcome="accepted") == 0


def test_request_latency_is_labelled_by_route_name_not_path(client, project, owner):
    client.force_login(owner)
    detail = reverse("projects:project-detail", kwargs={"slug": project.slug})
    count = "bmadweb_http_request_duration_seconds_count"
    detail_labels = {"method": "GET", "route": "projects:project-detail", "status": "200"}
    unmatched_labels = {"method": "GET", "route": "unmatched", "status": "404"}

    def counts() -> tuple[float, float]:
        # The counters live for the whole process: compare before and after.
        samples = _scrape(client).get(count, [])
        return (
            sum(s.value for s in samples if s.labels == detail_labels),
            sum(s.value for s in samples if s.labels == unmatched_labels),
        )

    before = counts()
    assert client.get(detail).status_code == 200
    assert client.get("/no/such/page/healthai").status_code == 404
    after = counts()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_invented_http_methods_collapse_into_other(client, redis_conn):
    client.generic("BREWCOFFEE", reverse("ops:health"))
    samples = _scrape(client)
    routes = {
        s.labels["method"]
        for s in samples["bmadweb_http_request_duration_seconds_count"]
        if s.labels["route"] == "ops:health"
    }
    assert "other" in routes
    assert "BREWCOFFEE" not in routes


def test_label_values_never_carry_project_or_user_names(client, project, owner, viewer, redis_conn):
    _finished_run(project, RunKind.ANALYZE, RunStatus.FAILED, 5)
    client.force_login(owner)
    client.get(reverse("projects:project-detail", kwargs={"slug": project.slug}))
    client.get(f"/p/{project.slug}/nothing-here/")
    samples = _scrape(client)
    values = {v.lower() for group in samples.values() for s in group for v in s.labels.values()}
    assert values, "the scrape carried no labels at all"
    forbidden = [project.name, project.slug, owner.username, viewer.username]
    assert [f for f in forbidden if any(f.lower() in v for v in values)] == []


# --- several processes ---------------------------------------------------------------

_OBSERVE = """
import django; django.setup()
from bmadweb.metrics import request_observe
request_observe(method="GET", route="ops:health", status=200, seconds=0.3)
"""


def test_multiprocess_dir_merges_request_latency_of_every_process(
    tmp_path, monkeypatch, redis_conn
):
    shared = tmp_path / "prom"
    shared.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "DJANGO_SETTINGS_MODULE": "bmadweb.settings",
        "BMADWEB_VAR_DIR": str(tmp_path / "var"),
    }
    root = Path(__file__).resolve().parents[2]
    observers = [
        subprocess.Popen([sys.executable, "-c", _OBSERVE], env=env, cwd=root) for _ in range(2)
    ]
    assert [p.wait(timeout=120) for p in observers] == [0, 0]
    # The scraping process reads what the other two wrote into the shared directory.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics_text().decode())
        for s in family.samples
    }
    key = (
        "bmadweb_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "ops:health"), ("status", "200")),
    )
    assert samples[key] == 2
    assert samples[("bmadweb_database_up", ())] == 1
