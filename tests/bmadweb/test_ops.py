"""/health and /health/ready: bounded time whatever hangs, failed checks named, no secrets."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import django_rq
import pytest
from django.test import override_settings
from django.urls import reverse
from rq import Worker

from bmadweb.selectors import readiness_get


@pytest.fixture
def live_worker(redis_conn) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    """An RQ worker registered on the default queue, as a running `rqworker` would be."""
    queue = django_rq.get_queue("default")
    worker = Worker([queue], connection=queue.connection)
    worker.register_birth()
    yield worker
    worker.register_death()


@pytest.fixture
def hanging_redis() -> Iterator[int]:
    """A loopback port that accepts connections and never answers a byte."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(32)  # the kernel completes handshakes; nobody ever reads
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def closed_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _redis_at(url: str) -> override_settings:
    return override_settings(
        REDIS_URL=url, RQ_QUEUES={"default": {"URL": url, "DEFAULT_TIMEOUT": 300}}
    )


def _ready(client):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    response = client.get(reverse("ops:health-ready"))
    return response, time.monotonic() - started


def test_health_answers_ok_without_touching_the_database(client):
    # No `db` fixture: any query would raise here.
    response = client.get(reverse("ops:health"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_is_not_cached(client):
    response = client.get(reverse("ops:health"))
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_ready_is_200_with_database_redis_live_worker_and_keys(client, live_worker):
    response, _ = _ready(client)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "workers", "keys"}


@pytest.mark.django_db
def test_ready_without_a_live_worker_is_503_naming_workers(client, redis_conn):
    response, _ = _ready(client)
    assert response.status_code == 503
    assert response.json()["failed"] == ["workers"]
    assert response.json()["checks"]["workers"]["error"] == "no live worker"


@pytest.mark.django_db
def test_worker_that_registered_its_death_no_longer_counts(client, live_worker):
    live_worker.register_death()
    response, _ = _ready(client)
    assert response.json()["failed"] == ["workers"]


@pytest.mark.django_db
def test_hanging_redis_gives_503_within_a_second_naming_redis(client, hanging_redis):
    url = f"redis://:hunter2-redis-password@127.0.0.1:{hanging_redis}/0"
    with _redis_at(url):
        response, elapsed = _ready(client)
    body = response.content.decode()
    assert response.status_code == 503
    assert elapsed < 1.0
    assert "redis" in response.json()["failed"]
    assert response.json()["checks"]["redis"]["error"] == "timed out"
    assert "hunter2" not in body
    assert str(hanging_redis) not in body


@pytest.mark.django_db
def test_closed_redis_port_gives_503_quickly_naming_redis(client, closed_port):
    with _redis_at(f"redis://127.0.0.1:{closed_port}/0"):
        response, elapsed = _ready(client)
    assert response.status_code == 503
    assert elapsed < 1.0
    assert response.json()["checks"]["redis"]["error"] == "unreachable"
    assert "workers" in response.json()["failed"]


@pytest.mark.django_db
def test_wrong_fernet_key_ring_gives_503_keys_without_the_key(client, live_worker, caplog):
    garbage = "garbage-fernet-key-material-do-not-log"
    with override_settings(FERNET_KEYS=[garbage]), caplog.at_level(logging.DEBUG):
        response, _ = _ready(client)
    assert response.status_code == 503
    assert response.json()["failed"] == ["keys"]
    assert garbage not in response.content.decode()
    assert garbage not in caplog.text


@pytest.mark.django_db
def test_unusable_audit_key_ring_gives_503_keys(client, live_worker):
    with override_settings(AUDIT_KEYS=["short:tooshort"]):
        response, _ = _ready(client)
    assert response.status_code == 503
    assert response.json()["checks"]["keys"]["error"] == "audit key ring unusable"
    assert "tooshort" not in response.content.decode()


def test_a_check_that_never_returns_is_reported_as_timed_out_at_the_deadline():
    release = threading.Event()

    def stuck() -> None:
        release.wait(10)

    started = time.monotonic()
    try:
        report = readiness_get({"stuck": stuck, "fine": lambda: None}, deadline_s=0.2)
    finally:
        release.set()
    assert time.monotonic() - started < 0.5
    assert report.failed == ["stuck"]
    assert report.checks["stuck"].error == "timed out"


def test_an_unexpected_exception_is_named_by_class_only():
    def leaky() -> None:
        raise RuntimeError("redis://user:s3cret@host failed")

    report = readiness_get({"leaky": leaky})
    assert report.checks["leaky"].error == "failed (RuntimeError)"


def test_ready_refuses_post(client):
    response = client.post(reverse("ops:health-ready"))
    assert response.status_code == 405


def test_repeated_probes_of_a_hung_check_share_one_thread():
    release = threading.Event()
    calls = []

    def stuck() -> None:
        calls.append(1)
        release.wait(10)

    try:
        for _ in range(3):
            report = readiness_get({"stuck": stuck}, deadline_s=0.05)
            assert report.failed == ["stuck"]
    finally:
        release.set()
    assert len(calls) == 1
