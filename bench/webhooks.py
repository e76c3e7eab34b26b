"""Benchmark: sustained signed webhook deliveries per second through gunicorn.

Everything is throwaway and local: a temporary BMADWEB_VAR_DIR with a fresh SQLite
database (or DATABASE_URL when set: a project named bench-<random> is created there and
deleted afterwards), an embedded Redis on a unix socket, one project with a manifest and
a webhook secret, and gunicorn bound to 127.0.0.1 on a free port with
bench.bench_settings (the real settings plus a trivial view at /bench/trivial/).

Client processes with a few keep-alive connections each send for a fixed time (the
server's CPU time, master and workers from /proc, is read over the same window):
  1. baseline: POST of the same body to the trivial view (same server, same middleware);
  2. pushes to the default branch, each a unique, signed GitHub delivery: signature,
     event, JSON, repository match, the ledger row and the wake of the project's drain
     job in Redis. This is the headline figure (`deliveries_per_s`, `ratio`, `p99_ms`),
     with the server's CPU per delivery against the baseline's (`cpu_ratio`);
  3. pushes to another branch (answered "ignored"; the same work but the verdict).
No worker runs during the phases. Afterwards the drain the worker would run settles every
delivery in this process (an audit record each, one analysis for all the pushes), and
its rate is printed too: the request is fast because that work moved there.
The server runs 4 gunicorn workers like the Dockerfile (gthread, one thread each, so the
clients' connections are kept alive). Loopback only, bounded in time and connections.

Usage: uv run python bench/webhooks.py [--seconds 10] [--clients 2] [--connections 4]
       [--workers 4] [--threads 1] [--rounds 4]. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_PER_S = 200
TARGET_P99_MS = 100
TARGET_RATIO = 0.2
EXPECTED_STATUS = {"baseline": 200, "default": 202, "branch": 200}


# --- Set-up ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(var_dir: Path) -> dict[str, str]:
    """Migrate, create the project and return what the clients need (in this process)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from projects import services
    from provisioning.demo.bmad_installs import DEMO_MANIFEST

    call_command("migrate", verbosity=0)
    repo = var_dir / "repos" / "bench.git"
    repo.mkdir(parents=True)
    project = services.project_create(
        actor=None, name="Bench", slug=f"bench-{secrets.token_hex(4)}", repo_url=str(repo)
    )
    services.manifest_save(actor=None, project=project, yaml_text=DEMO_MANIFEST, message="bench")
    secret = services.webhook_secret_regenerate(actor=None, project=project)
    connections.close_all()
    return {"uid": str(project.uid), "slug": project.slug, "secret": secret, "repo": str(repo)}


def cleanup_project(slug: str) -> None:
    from django.db import connections

    from projects.models import Project

    Project.objects.filter(slug=slug).delete()
    connections.close_all()


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "bmadweb.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        "--keep-alive=30",
        "--log-level=warning",
    ]
    return subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)


def wait_ready(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("POST", "/bench/trivial/", body=b"{}")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 60 s")


# --- Clients --------------------------------------------------------------------------------


def _request(kind: str, job: dict[str, Any], n: int) -> tuple[str, bytes, dict[str, str]]:
    if kind == "baseline":
        return "/bench/trivial/", job["body_template"], {"Content-Type": "application/json"}
    ref = "refs/heads/main" if kind == "default" else "refs/heads/feature/bench"
    payload = {
        "ref": ref,
        "before": "0" * 40,
        "after": hashlib.sha1(f"{job['tag']}-{n}".encode()).hexdigest(),  # noqa: S324
        "repository": {"full_name": "acme/bench", "clone_url": job["repo"]},
        "pusher": {"name": "bench"},
        "commits": [{"id": "x" * 40, "message": "bench " * 20}],
    }
    body = json.dumps(payload).encode()
    signature = hmac.new(job["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + signature,
    }
    return f"/hooks/github/{job['uid']}/", body, headers


def _connection_loop(kind: str, job: dict[str, Any], out: list[Any]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", job["port"], timeout=10)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    n = 0
    while time.monotonic() < job["deadline"]:
        path, body, headers = _request(kind, job, n)
        n += 1
        started = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", job["port"], timeout=10)
            statuses[-1] = statuses.get(-1, 0) + 1
            continue
        if time.monotonic() >= job["measure_from"]:
            if response.status == EXPECTED_STATUS[kind]:  # only answers that did the work count
                latencies.append(time.perf_counter() - started)
            statuses[response.status] = statuses.get(response.status, 0) + 1
    conn.close()
    out.append((latencies, statuses))


def client_process(kind: str, job: dict[str, Any]) -> tuple[list[float], dict[int, int]]:
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=_connection_loop, args=(kind, {**job, "tag": f"{job['tag']}-{i}"}, results)
        )
        for i in range(job["connections"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = [lat for lats, _ in results for lat in lats]
    statuses: dict[int, int] = {}
    for _, counts in results:
        for status, count in counts.items():
            statuses[status] = statuses.get(status, 0) + count
    return latencies, statuses


def server_cpu_s(master: int) -> float:
    """CPU seconds used so far by gunicorn: the master and its live workers."""
    pids = [master]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(stat.parent.name))
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_window(master: int, start: float, end: float, out: list[float]) -> None:
    """The server's CPU seconds between two monotonic instants (the measured window)."""
    time.sleep(max(0.0, start - time.monotonic()))
    before = server_cpu_s(master)
    time.sleep(max(0.0, end - time.monotonic()))
    out.append(server_cpu_s(master) - before)


def phase(
    kind: str, job: dict[str, Any], args: argparse.Namespace, seconds: float
) -> dict[str, Any]:
    """One measured window of `kind` requests (after a second of warm-up): the latencies of
    the answers that did the work, every status, and the server's CPU seconds."""
    warmup = 1.0
    now = time.monotonic()
    job = {
        **job,
        "connections": args.connections,
        "measure_from": now + warmup,
        "deadline": now + warmup + seconds,
    }
    server_cpu: list[float] = []
    window = (job["server_pid"], job["measure_from"], job["deadline"], server_cpu)
    watcher = threading.Thread(target=_cpu_window, args=window)
    watcher.start()
    ctx = mp.get_context("fork")
    with ctx.Pool(args.clients) as pool:
        parts = pool.starmap(
            client_process, [(kind, {**job, "tag": f"{kind}-{i}"}) for i in range(args.clients)]
        )
    watcher.join()
    statuses: dict[int, int] = {}
    for _, counts in parts:
        for status, count in counts.items():
            statuses[status] = statuses.get(status, 0) + count
    latencies = [lat for lats, _ in parts for lat in lats]
    return {"latencies": latencies, "statuses": statuses, "cpu_s": server_cpu[0], "s": seconds}


def summarize(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one kind together: rate, latencies, server CPU per answered request."""
    latencies = sorted(lat for w in windows for lat in w["latencies"])
    statuses: dict[int, int] = {}
    for window in windows:
        for status, count in window["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    seconds = sum(w["s"] for w in windows)
    answered = sum(count for status, count in statuses.items() if status > 0)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    cpu_s = sum(w["cpu_s"] for w in windows)
    return {
        "per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else 0.0,
        "p99_ms": round(p99 * 1000, 1),
        # the server's CPU per answered request in the measured windows (gunicorn only: the
        # clients and Redis run in other processes)
        "cpu_ms": round(cpu_s * 1000 / answered, 3) if answered else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


# --- Main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=4, help="connections per process")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds the seconds of each kind are split into"
    )
    args = parser.parse_args()
    if not (1 <= args.clients <= 8 and 1 <= args.connections <= 32 and args.seconds <= 120):
        raise SystemExit("keep it bounded: 1-8 clients, 1-32 connections each, <= 120 s")
    if not 1 <= args.rounds <= 10:
        raise SystemExit("keep it bounded: 1-10 rounds")

    tmp = Path(tempfile.mkdtemp(prefix="bmadweb-bench-webhooks-"))
    from bmadweb.embedded_redis import embedded_redis_start, embedded_redis_stop

    sock = embedded_redis_start(tmp / "redis")
    env = {
        **os.environ,
        "BMADWEB_VAR_DIR": str(tmp),
        "REDIS_URL": f"unix://{sock}?db=0",
        "DJANGO_SETTINGS_MODULE": "bench.bench_settings",
        "DJANGO_DEBUG": "1",
    }
    os.environ.update(env)
    server: subprocess.Popen | None = None
    info: dict[str, str] = {}
    try:
        info = prepare(tmp)
        port = free_port()
        # The server runs as in production: DEBUG off (local repo paths are not needed to
        # receive webhooks, only to clone).
        (tmp / "static").mkdir()
        server_env = {
            **env,
            "DJANGO_DEBUG": "0",
            "BMADWEB_ALLOW_LOCAL_REPOS": "0",
            "DJANGO_STATIC_ROOT": str(tmp / "static"),
        }
        server = start_gunicorn(server_env, port, args.workers, args.threads)
        wait_ready(port)
        job: dict[str, Any] = {"port": port, "server_pid": server.pid, **info}
        job["body_template"] = _request("branch", job | {"tag": "t"}, 0)[1]
        kinds = ("baseline", "default", "branch")
        windows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for index in range(args.rounds):  # alternate, so load changes hit every kind
            for kind in kinds if index % 2 == 0 else kinds[::-1]:
                windows[kind].append(phase(kind, job, args, args.seconds / args.rounds))
        baseline, default, branch = (summarize(windows[kind]) for kind in kinds)
        drain = drain_all(info["slug"])
        counts = ledger_counts(info["slug"])
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if info and os.environ.get("DATABASE_URL"):
            cleanup_project(info["slug"])
        embedded_redis_stop(tmp / "redis")
        shutil.rmtree(tmp, ignore_errors=True)

    report(args, baseline, default, branch, drain, counts)


def drain_all(slug: str) -> dict[str, Any]:
    """Settle every pending delivery as the worker's drain job does, and time it."""
    from django.db import connections
    from django.test import override_settings

    from projects.models import Project
    from provisioning.webhooks.settle import webhooks_drain

    project_id = Project.objects.get(slug=slug).pk
    started = time.perf_counter()
    with override_settings(DEBUG=False):  # as a worker runs: no query log
        settled = webhooks_drain(project_id=project_id)
    seconds = time.perf_counter() - started
    connections.close_all()
    return {"settled": settled, "seconds": seconds, "per_s": settled / seconds if seconds else 0}


def report(
    args: argparse.Namespace,
    baseline: dict[str, Any],
    default: dict[str, Any],
    branch: dict[str, Any],
    drain: dict[str, Any],
    counts: dict[str, int],
) -> None:
    ratio = default["per_s"] / baseline["per_s"] if baseline["per_s"] else 0.0
    # The same comparison in server CPU per request (steadier: the clients share the machine)
    cpu_ratio = baseline["cpu_ms"] / default["cpu_ms"] if default["cpu_ms"] else 0.0
    database = "PostgreSQL (DATABASE_URL)" if os.environ.get("DATABASE_URL") else "SQLite (WAL)"
    server = f"{args.workers} workers x {args.threads} threads, gthread"
    clients = f"{args.clients} processes x {args.connections} keep-alive connections"
    print(f"webhook receiver through gunicorn ({server})")
    print(
        f"  database: {database}; clients: {clients}; {args.seconds:g} s per kind, in "
        f"{args.rounds} alternating rounds"
    )
    for name, result in (
        ("trivial view (baseline)", baseline),
        ("push, default branch", default),
        ("push, other branch", branch),
    ):
        print(
            f"  {name:<24} {result['per_s']:>8.1f}/s   p50 {result['p50_ms']:>6.1f} ms   "
            f"p99 {result['p99_ms']:>6.1f} ms   server CPU {result['cpu_ms']:>6.2f} ms/request   "
            f"statuses {result['statuses']}"
        )
    print(
        f"  then the drain (worker side): {drain['settled']} deliveries settled and audited "
        f"in {drain['seconds']:.1f} s ({drain['per_s']:.0f}/s)"
    )
    print(f"  ledger: {counts['deliveries']} deliveries recorded, {counts['runs']} run(s) created")
    print(
        f"  ratio (default-branch deliveries / baseline): {ratio:.2f} of the trivial view's "
        f"{baseline['per_s']:.0f}/s on this machine; CPU ratio {cpu_ratio:.2f} "
        f"({default['cpu_ms']:.2f} ms of server CPU per delivery against "
        f"{baseline['cpu_ms']:.2f} ms per trivial request)"
    )
    print(f"  machine: {os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f}")
    unexpected = {
        name: {code: n for code, n in result["statuses"].items() if int(code) != expected}
        for name, result, expected in (
            ("baseline", baseline, EXPECTED_STATUS["baseline"]),
            ("default", default, EXPECTED_STATUS["default"]),
            ("branch", branch, EXPECTED_STATUS["branch"]),
        )
    }
    if any(unexpected.values()):
        print(f"  UNEXPECTED answers (not counted): {unexpected}")
    # Judged: the ratios (the same machine, the same moment) and unexpected answers. The
    # absolute rate and p99 depend on the machine and its load: printed, not judged.
    failed = [
        what
        for what, bad in (
            ("unexpected answers", any(unexpected.values())),
            (f"ratio {ratio:.2f} < {TARGET_RATIO}", ratio < TARGET_RATIO),
            (f"CPU ratio {cpu_ratio:.2f} < {TARGET_RATIO}", cpu_ratio < TARGET_RATIO),
        )
        if bad
    ]
    absolute = default["per_s"] >= TARGET_PER_S and default["p99_ms"] <= TARGET_P99_MS
    print(
        f"  reference (an unloaded 2-CPU machine, not judged): >= {TARGET_PER_S}/s and p99 <= "
        f"{TARGET_P99_MS} ms: {'met' if absolute else 'not met here'}"
    )
    targets = f"ratio and CPU ratio >= {TARGET_RATIO}, every answer as expected"
    print(f"  targets: {targets}: {'met' if not failed else 'NOT met: ' + '; '.join(failed)}")
    summary = {
        "deliveries_per_s": default["per_s"],
        "baseline_per_s": baseline["per_s"],
        "ratio": round(ratio, 3),
        "cpu_ms": default["cpu_ms"],
        "baseline_cpu_ms": baseline["cpu_ms"],
        "cpu_ratio": round(cpu_ratio, 3),
        "p99_ms": default["p99_ms"],
        "other_branch_per_s": branch["per_s"],
        "other_branch_p99_ms": branch["p99_ms"],
        "drain_per_s": round(drain["per_s"], 1),
        "runs_created": counts["runs"],
        "cpus": os.cpu_count(),
        "passed": not failed,
    }
    print(json.dumps(summary))
    if failed:
        raise SystemExit(1)


def ledger_counts(slug: str) -> dict[str, int]:
    from django.db import connections

    from provisioning.models import Run, WebhookDelivery

    counts = {
        "deliveries": WebhookDelivery.objects.filter(project__slug=slug).count(),
        "runs": Run.objects.filter(project__slug=slug).count(),
    }
    connections.close_all()
    return counts


if __name__ == "__main__":
    main()
