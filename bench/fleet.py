"""Benchmark: analysis sweeps of a fleet of projects through real RQ workers, cold and warm.

Everything lives under a temporary folder: a throwaway SQLite database, an embedded Redis
(through BMADWEB_VAR_DIR; REDIS_URL is used instead when set), and N local bare
repositories, each a BMAD 6.12 install (provisioning.demo.bmad_installs.build_v64) with
1,000 files of the project's own beside it (--extra-files; bench/provision.py's
repository) and a commit of its own. N projects are registered on them with the demo
manifest.

Two worker processes (`manage.py rqworker default`, with the worker class production
runs: `provisioning.worker.Worker`, RQ's forking worker with the jobs' code loaded
before the first fork; `--worker-class` names another, e.g. `rq.worker.SimpleWorker` or
RQ's plain `rq.worker.Worker`) work the queue, with the repositories, the database and
Redis of the bench. Each worker first runs warm-up analyses that are not counted. Then
every project gets an analysis run, started as the drift check scheduler starts a tick's
checks (`analyses_start`: the runs and their audit records in one transaction, the jobs
enqueued in one Redis pipeline after the commit), and the sweep ends when the last run
finished (what earlier steps wrote is flushed to disk before each sweep, untimed):

* **cold**: no mirror exists yet; each run clones its project's mirror;
* **warm**: after a new commit on every repository (a changed file and a new one, in a
  folder of the team's own), the same sweep again; each run fetches the delta into its
  mirror, and reuses the last report when nothing the analysis reads changed
  (docs/decisions.md#d50; the bench counts both from the run logs).

With --fresh, a first sweep runs with mirrors off (BMADWEB_MIRROR_BUDGET_MB=0: a fresh
clone per run, removed after it, as before mirrors), on workers of its own.

Figures: wall time of each sweep and projects per minute, CPU of the workers and of the
processes they reaped (/proc: work horses and git), each worker's peak RSS (the largest
of the worker's VmHWM and the peak its reaped processes reached, from `wait4` when it
exits: a forking worker runs its jobs in work horses), and where the machine's CPUs went
during each sweep (/proc/stat: user, system, idle): a cold sweep's time follows the
kernel's cost of writing 1,068 files per clone, which varies from day to day. Every
ratio is printed beside the absolute figures it divides.

Targets (2 CPUs): warm >= 600 projects/min, warm >= 3x cold, peak RSS <= 300 MB per
worker, and every warm run fetched into an existing mirror.

Usage: uv run python bench/fleet.py [--projects 200] [--workers 2] [--extra-files 1000]
[--budget-mb 2048] [--fresh] [--worker-class CLASS]. The last line printed is JSON; the
exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seed_repos import git, make_seed  # noqa: E402 - after the path

TARGET_WARM_PER_MIN = 600.0
TARGET_SPEEDUP = 3.0
TARGET_RSS_MB = 300.0
WARMUP_PER_WORKER = 2
CLK_TCK = os.sysconf("SC_CLK_TCK")


def commit_on(bare: Path, files: dict[str, str], message: str) -> None:
    """One commit on main of a bare repository, by one `git fast-import`."""
    stamp = int(time.time())
    data = message.encode()
    stream = [
        b"commit refs/heads/main\n",
        f"committer Bench <bench@example.test> {stamp} +0000\n".encode(),
        f"data {len(data)}\n".encode() + data + b"\n",
        b"from refs/heads/main^0\n",
    ]
    for path, text in files.items():
        body = text.encode()
        stream.append(f"M 100644 inline {path}\ndata {len(body)}\n".encode() + body + b"\n")
    git("fast-import", "--quiet", "--done", cwd=bare, stdin=b"".join(stream) + b"done\n")


def make_remotes(seed: Path, folder: Path, count: int) -> list[Path]:
    """`count` bare repositories of the seed, each with a commit of its own."""
    remotes = []
    for i in range(count):
        bare = folder / f"repo-{i:04d}.git"
        git("clone", "--quiet", "--bare", "--no-local", str(seed), str(bare), cwd=folder)
        commit_on(bare, {"docs/team.md": f"# Team {i}\n\nOwns service {i}.\n"}, f"Team {i}")
        remotes.append(bare)
    return remotes


def push_everywhere(remotes: list[Path], round_: int) -> None:
    """A team's push on every repository: a changed file and a new one."""
    for i, bare in enumerate(remotes):
        files = {
            "docs/team.md": f"# Team {i}\n\nOwns service {i}, round {round_}.\n",
            f"docs/notes/round-{round_}.md": f"Notes of round {round_} for team {i}.\n",
        }
        commit_on(bare, files, f"Round {round_} of team {i}")


def bench_env(var_dir: Path, budget_mb: int) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "bmadweb.settings",
        "BMADWEB_VAR_DIR": str(var_dir),
        "BMADWEB_WORK_DIR": str(var_dir / "work"),
        "BMADWEB_ALLOW_LOCAL_REPOS": "1",
        "BMADWEB_LOCAL_REPOS_ROOT": str(var_dir.parent),
        "BMADWEB_LOG_LEVEL": "WARNING",
        "BMADWEB_MIRROR_BUDGET_MB": str(budget_mb),
        "DJANGO_DEBUG": "0",  # as in production: no per-query bookkeeping
    }
    return env


def setup_django(var_dir: Path, budget_mb: int) -> None:
    for name in ("DATABASE_URL", "BMADWEB_RUN_CHECKPOINT_DIR"):
        os.environ.pop(name, None)
    os.environ.update(bench_env(var_dir, budget_mb))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def register(owner: Any, remotes: list[Path], prefix: str) -> list[int]:
    from projects import services as project_services
    from provisioning.demo.bmad_installs import DEMO_MANIFEST

    ids = []
    for i, bare in enumerate(remotes):
        project = project_services.project_create(
            actor=owner,
            name=f"{prefix} {i}",
            slug=f"{prefix}-{i}",
            repo_url=str(bare),
            forge_kind="other",
            push_mode="branch",
        )
        project_services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST)
        ids.append(project.pk)
    return ids


class Workers:
    """`manage.py rqworker default` processes, of production's worker class unless
    `worker_class` names another."""

    def __init__(
        self, count: int, env: dict[str, str], logs: Path, worker_class: str | None = None
    ) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.reaped_peaks: dict[int, float] = {}  # pid: MB, read when the worker is reaped
        for i in range(count):
            log = open(logs / f"worker-{i}.log", "ab")  # noqa: SIM115 - closed in stop()
            # DEBUG off, as in production; local repositories then fail a system check
            # meant for deployments, which the bench's own workers skip.
            argv = [sys.executable, "manage.py", "rqworker", "default", "--skip-checks"]
            if worker_class:
                argv += ["--worker-class", worker_class]
            self.procs.append(
                subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log)
            )
            self.logs = logs

    def cpu_s(self) -> tuple[float, float]:
        """(the workers' own CPU, the CPU of the children they reaped: git) in seconds."""
        own = children = 0.0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            own += (int(fields[11]) + int(fields[12])) / CLK_TCK
            children += (int(fields[13]) + int(fields[14])) / CLK_TCK
        return own, children

    def peak_rss_mb(self) -> list[float]:
        """Each worker's own peak so far (VmHWM); see `stop` for its work horses'."""
        peaks = []
        for proc in self.procs:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return peaks

    def log_tail(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-3000:] for path in sorted(self.logs.iterdir())
        )

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # warm shutdown: the current job ends first
        for proc in self.procs:
            deadline = time.monotonic() + 60
            with contextlib.suppress(ChildProcessError):  # reaped already: it died early
                # Waited for without reaping (WNOWAIT): wait4 reaps it and reads its peak.
                while not os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    if time.monotonic() > deadline:
                        proc.kill()
                        break
                    time.sleep(0.05)
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                # ru_maxrss (KiB): the largest of the worker and every process it reaped,
                # its work horses among them (Linux carries the children's peak up).
                self.reaped_peaks[proc.pid] = usage.ru_maxrss / 1024


def machine_ticks() -> list[int]:
    """The machine's CPU time so far (/proc/stat: user, nice, system, idle, iowait, ...)."""
    with open("/proc/stat") as stat:
        return [int(n) for n in stat.readline().split()[1:]]


def machine_shares(before: list[int], after: list[int]) -> dict[str, float]:
    """Where the machine's CPUs went between two readings, in percent: the workers, git
    and everything else in user and system time, and the time no CPU had work (idle, and
    iowait: idle while a disk write was pending)."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent) or 1
    user, nice, system, idle, iowait = spent[:5]
    return {
        "user": (user + nice) / total * 100,
        "system": system / total * 100,
        "idle": (idle + iowait) / total * 100,
        "iowait": iowait / total * 100,
    }


def sweep(owner: Any, project_ids: list[int], workers: Workers, label: str) -> dict[str, Any]:
    """An analysis run for every project; returns when the last one finished."""
    from projects.models import Project
    from provisioning.models import ACTIVE_STATUSES, Run, RunLogEntry, RunStatus, RunTrigger
    from provisioning.runs import services

    projects = list(Project.objects.filter(pk__in=project_ids).order_by("pk"))
    # Not timed: what earlier steps wrote (the repositories, the last sweep's clones) is
    # flushed to disk first, so a sweep does not pay for the writeback of another.
    os.sync()
    cpu, git_cpu = workers.cpu_s()
    ticks = machine_ticks()
    started = time.perf_counter()
    # As the drift check scheduler starts a tick's checks: one bulk start.
    started_runs = services.analyses_start(projects, trigger=RunTrigger.SCHEDULE, actor=owner)
    run_ids = [run.pk for run in started_runs.runs]
    if len(run_ids) != len(projects):
        raise SystemExit(f"{label}: {len(projects) - len(run_ids)} projects were busy")
    enqueued = time.perf_counter() - started
    deadline = time.monotonic() + 60 + 10 * len(run_ids)
    while Run.objects.filter(pk__in=run_ids, status__in=ACTIVE_STATUSES).exists():
        if not workers.alive():
            raise SystemExit(f"{label}: a worker died:\n{workers.log_tail()}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{label}: runs still active after the deadline")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    machine = machine_shares(ticks, machine_ticks())
    cpu_after, git_after = workers.cpu_s()
    bad = list(
        Run.objects.filter(pk__in=run_ids)
        .exclude(status=RunStatus.SUCCEEDED)
        .values_list("pk", "status", "failure_reason")[:5]
    )
    if bad:
        raise SystemExit(f"{label}: runs did not succeed: {bad}")
    fetched = RunLogEntry.objects.filter(
        run_id__in=run_ids, message__contains="(fetched the changes)"
    ).count()
    reused = RunLogEntry.objects.filter(
        run_id__in=run_ids, message__contains="the last report is reused"
    ).count()
    return {
        "label": label,
        "projects": len(run_ids),
        "s": elapsed,
        "enqueue_s": enqueued,
        "per_min": len(run_ids) / elapsed * 60,
        "worker_cpu_s": cpu_after - cpu,
        "git_cpu_s": git_after - git_cpu,
        "mirrors_reused": fetched,
        "reports_reused": reused,
        "machine": machine,
    }


def mirrors_mb(work: Path) -> float:
    total = 0
    for dirpath, _dirs, files in os.walk(work / "mirrors"):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total / 1024 / 1024


def warm_up(owner: Any, remotes: list[Path], workers: Workers, prefix: str) -> None:
    ids = register(owner, remotes, prefix)
    sweep(owner, ids, workers, f"warm-up {prefix}")


def describe(result: dict[str, Any]) -> str:
    machine = result["machine"]
    per_project = result["worker_cpu_s"] + result["git_cpu_s"]
    return (
        f"{result['label']}: {result['projects']} projects in {result['s']:.2f} s "
        f"({result['per_min']:.0f} projects/min; enqueueing {result['enqueue_s']:.2f} s of it); "
        f"worker CPU {result['worker_cpu_s']:.2f} s + reaped (horses, git) "
        f"{result['git_cpu_s']:.2f} s "
        f"= {per_project / result['projects'] * 1000:.0f} ms per project; "
        f"{result['mirrors_reused']} runs fetched into an existing mirror, "
        f"{result['reports_reused']} reused the last report (nothing they read changed); "
        f"the machine's CPUs: user {machine['user']:.0f}%, system {machine['system']:.0f}%, "
        f"idle {machine['idle']:.0f}% (waiting on the disk {machine['iowait']:.0f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--extra-files", type=int, default=1000,
        help="the project's own files beside BMAD's (bench/provision.py's repository: 1000)",
    )  # fmt: skip
    parser.add_argument("--budget-mb", type=int, default=2048, help="BMADWEB_MIRROR_BUDGET_MB")
    parser.add_argument("--fresh", action="store_true", help="also sweep with mirrors off")
    parser.add_argument(
        "--worker-class", default=None,
        help="the workers' RQ class (default: production's, settings.RQ['WORKER_CLASS'])",
    )  # fmt: skip
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bmadweb-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        var_dir = tmp / "var"
        setup_django(var_dir, args.budget_mb)
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from bmadweb.embedded_redis import embedded_redis_start, embedded_redis_stop

        if not os.environ.get("REDIS_URL"):
            embedded_redis_start(var_dir / "redis")
        try:
            built = time.perf_counter()
            repos = tmp / "repos"
            repos.mkdir()
            seed = make_seed(tmp, args.extra_files)
            warm_count = WARMUP_PER_WORKER * args.workers
            remotes = make_remotes(seed, repos, args.projects + 2 * warm_count)
            fleet, warmups = remotes[: args.projects], remotes[args.projects :]
            owner = get_user_model().objects.create_user("bench")  # never logs in
            project_ids = register(owner, fleet, "fleet")
            repo_files = len(git("ls-tree", "-r", "--name-only", "main", cwd=fleet[0]).split())
            print(
                f"setup: {args.projects} bare repositories of {repo_files} files (a BMAD 6.12 "
                f"install with a manifest, {args.extra_files} files of the project's own) and "
                "their projects in "
                f"{time.perf_counter() - built:.1f} s (not timed)"
            )
            if args.fresh:
                workers = Workers(
                    args.workers, bench_env(var_dir, 0), tmp / "logs-fresh", args.worker_class
                )
                try:
                    warm_up(owner, warmups[:warm_count], workers, "warmup-fresh")
                    results["fresh"] = sweep(owner, project_ids, workers, "mirrors off")
                    print(describe(results["fresh"]))
                finally:
                    workers.stop()
            workers = Workers(
                args.workers, bench_env(var_dir, args.budget_mb), tmp / "logs", args.worker_class
            )
            try:
                warm_up(owner, warmups[warm_count:], workers, "warmup")
                shutil.rmtree(Path(settings.WORK_DIR) / "mirrors", ignore_errors=True)
                results["cold"] = sweep(owner, project_ids, workers, "cold (no mirror yet)")
                print(describe(results["cold"]))
                push_everywhere(fleet, 2)
                results["warm"] = sweep(owner, project_ids, workers, "warm (delta fetched)")
                print(describe(results["warm"]))
                hwm = workers.peak_rss_mb()
            finally:
                workers.stop()
            peaks = [
                max(own, workers.reaped_peaks.get(proc.pid, 0.0))
                for own, proc in zip(hwm, workers.procs, strict=True)
            ]
            disk = mirrors_mb(Path(settings.WORK_DIR))
            # Before the temporary folder (400,000 files) is removed; JSON is still last.
            report(args, results, peaks, disk, repo_files, load_before)
        finally:
            if not os.environ.get("REDIS_URL"):
                embedded_redis_stop(var_dir / "redis")


def report(
    args: argparse.Namespace,
    results: dict[str, dict[str, Any]],
    peaks: list[float],
    disk: float,
    repo_files: int,
    load_before: float,
) -> None:
    cold, warm = results["cold"], results["warm"]
    speedup = warm["per_min"] / cold["per_min"]
    cold_cpu = (cold["worker_cpu_s"] + cold["git_cpu_s"]) / cold["projects"]
    warm_cpu = (warm["worker_cpu_s"] + warm["git_cpu_s"]) / warm["projects"]
    peak = max(peaks)
    git_version = git("version", cwd=Path.cwd()).removeprefix("git version ")
    from django.conf import settings

    worker_class = args.worker_class or settings.RQ["WORKER_CLASS"]
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end; git {git_version}; Python "
        f"{sys.version.split()[0]}; {args.workers} workers ({worker_class}); SQLite"
    )
    print(
        f"warm: {warm['per_min']:.0f} projects/min ({warm['s']:.2f} s for {warm['projects']}) "
        f"against cold {cold['per_min']:.0f} projects/min ({cold['s']:.2f} s): "
        f"{speedup:.2f}x (target >= {TARGET_SPEEDUP:g}x; warm target "
        f">= {TARGET_WARM_PER_MIN:g}/min)"
    )
    print(
        f"CPU per project (workers and what they reaped): warm {warm_cpu * 1000:.0f} ms "
        f"against cold "
        f"{cold_cpu * 1000:.0f} ms: {cold_cpu / warm_cpu:.2f}x less"
    )
    if "fresh" in results:
        fresh = results["fresh"]
        print(
            f"mirrors off (a fresh clone per run): {fresh['per_min']:.0f} projects/min "
            f"({fresh['s']:.2f} s); warm is {warm['per_min'] / fresh['per_min']:.2f}x that"
        )
    print(
        f"peak RSS per worker: {', '.join(f'{p:.0f}' for p in peaks)} MB "
        f"(target <= {TARGET_RSS_MB:g}); mirrors on disk {disk:.0f} MB "
        f"(budget {args.budget_mb} MB)"
    )
    failed = [
        what
        for what, bad in (
            (
                f"warm {warm['per_min']:.0f}/min < {TARGET_WARM_PER_MIN:g}",
                warm["per_min"] < TARGET_WARM_PER_MIN,
            ),
            (f"speedup {speedup:.2f} < {TARGET_SPEEDUP:g}", speedup < TARGET_SPEEDUP),
            (f"peak RSS {peak:.0f} MB > {TARGET_RSS_MB:g}", peak > TARGET_RSS_MB),
            (
                f"{warm['mirrors_reused']} of {warm['projects']} warm runs reused a mirror",
                warm["mirrors_reused"] != warm["projects"],
            ),
        )
        if bad
    ]
    print("PASS" if not failed else "FAIL: " + "; ".join(failed))
    result: dict[str, Any] = {
        "projects": args.projects,
        "cold_projects_per_min": round(cold["per_min"], 1),
        "warm_projects_per_min": round(warm["per_min"], 1),
        "warm_speedup": round(speedup, 2),
        "peak_rss_mb": round(peak, 1),
        "cold_sweep_s": round(cold["s"], 2),
        "warm_sweep_s": round(warm["s"], 2),
        "cold_cpu_ms_per_project": round(cold_cpu * 1000, 1),
        "warm_cpu_ms_per_project": round(warm_cpu * 1000, 1),
        "workers": args.workers,
        "worker_class": worker_class,
        "repo_files": repo_files,
        "mirrors_mb": round(disk, 1),
        "cpus": os.cpu_count(),
        "cold_system_pct": round(cold["machine"]["system"], 1),
        "cold_idle_pct": round(cold["machine"]["idle"], 1),
        "warm_system_pct": round(warm["machine"]["system"], 1),
        "warm_idle_pct": round(warm["machine"]["idle"], 1),
        "passed": not failed,
    }
    if "fresh" in results:
        result["fresh_projects_per_min"] = round(results["fresh"]["per_min"], 1)
        result["fresh_sweep_s"] = round(results["fresh"]["s"], 2)
    print(json.dumps(result))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
