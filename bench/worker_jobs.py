"""Benchmark: what one RQ job costs a worker, by worker class, the job itself doing nothing.

A worker process (`manage.py rqworker default --burst`) works N empty jobs (`os.getpid`)
off a queue of its own Redis (the embedded one under a temporary folder unless REDIS_URL
is set). The same burst on an empty queue is timed first and taken off, so what is left
is the jobs: RQ's own bookkeeping in Redis and, for a forking worker, a work horse forked
and reaped per job. Classes, in rounds (alternated, so each meets the machine's same
minutes):

* `provisioning.worker.Worker`: production's (docs/decisions.md#d52): RQ's forking
  worker with the jobs' code loaded before the first fork;
* `rq.worker.Worker`: RQ's plain forking worker;
* `rq.worker.SimpleWorker`: every job in the worker process: the baseline.

Prints, per class and round, the wall and CPU time per job (the worker and everything it
reaped), and each forking class against the baseline as a difference in milliseconds and
a ratio, beside the baseline's absolute figures. No target: it backs the per-job cost
that docs/performance.md#preloaded-worker states, and how much of a warm analysis it is
(a tick's runs share jobs of up to `BMADWEB_RUN_BATCH_SIZE`).

Usage: uv run python bench/worker_jobs.py [--jobs 500] [--rounds 3]. The last line
printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLASSES = ("provisioning.worker.Worker", "rq.worker.Worker", "rq.worker.SimpleWorker")
BASELINE = "rq.worker.SimpleWorker"


def reaped_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def burst(worker_class: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one `rqworker --burst` over whatever the queue holds."""
    argv = [sys.executable, "manage.py", "rqworker", "default", "--burst", "--skip-checks",
            "--worker-class", worker_class]  # fmt: skip
    cpu, started = reaped_cpu_s(), time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)
    return time.perf_counter() - started, reaped_cpu_s() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bmadweb-jobs-") as tmp:
        var_dir = Path(tmp) / "var"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bmadweb.settings",
            "BMADWEB_VAR_DIR": str(var_dir),
            "BMADWEB_LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "0",
        }
        os.environ.update(env)
        import django

        django.setup()
        import django_rq

        from bmadweb.embedded_redis import embedded_redis_start, embedded_redis_stop

        if not os.environ.get("REDIS_URL"):
            embedded_redis_start(var_dir / "redis")
        queue = django_rq.get_queue("default")
        per_job: dict[str, list[tuple[float, float]]] = {name: [] for name in CLASSES}
        try:
            for round_ in range(1, args.rounds + 1):
                for name in CLASSES:
                    queue.empty()
                    empty_wall, empty_cpu = burst(name, env)  # start-up and shutdown alone
                    for _ in range(args.jobs):
                        queue.enqueue("os.getpid")
                    wall, cpu = burst(name, env)
                    figure = ((wall - empty_wall) / args.jobs, (cpu - empty_cpu) / args.jobs)
                    per_job[name].append(figure)
                    print(
                        f"round {round_} {name}: {figure[0] * 1000:.1f} ms wall, "
                        f"{figure[1] * 1000:.1f} ms CPU per job",
                        flush=True,
                    )
        finally:
            queue.empty()
            if not os.environ.get("REDIS_URL"):
                embedded_redis_stop(var_dir / "redis")
    report(per_job, args)


def report(per_job: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    medians = {
        name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in per_job.items()
    }
    base_wall, base_cpu = medians[BASELINE]
    print(
        f"baseline {BASELINE}: {base_wall * 1000:.1f} ms wall, {base_cpu * 1000:.1f} ms CPU "
        f"per job (median of {args.rounds} rounds of {args.jobs} jobs)"
    )
    for name, (wall, cpu) in medians.items():
        if name == BASELINE:
            continue
        print(
            f"{name}: {wall * 1000:.1f} ms wall, {cpu * 1000:.1f} ms CPU per job: "
            f"+{(wall - base_wall) * 1000:.1f} ms wall ({wall / base_wall:.1f}x), "
            f"+{(cpu - base_cpu) * 1000:.1f} ms CPU ({cpu / base_cpu:.1f}x) over the baseline"
        )
    print(
        json.dumps(
            {
                "jobs": args.jobs,
                "rounds": args.rounds,
                "per_job_ms": {
                    name: {"wall": round(w * 1000, 2), "cpu": round(c * 1000, 2)}
                    for name, (w, c) in medians.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
