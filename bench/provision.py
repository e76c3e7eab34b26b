"""Benchmark: provisioning 100 specialists end to end, against plain git doing the same push.

Everything lives under a temporary folder: a throwaway SQLite database and an embedded
Redis (through BMADWEB_VAR_DIR), and a bare remote holding a BMAD 6.12-shaped install
(provisioning.demo.bmad_installs.build_v64). The manifest has 10 leaders x 10 specialists
for claude-code and cursor. Each repetition gets a fresh remote and a fresh project, and
runs `services.run_create(..., enqueue=False)` + `services.run_execute` in this process,
as an RQ worker would: clone, gap report, plan, apply, deterministic commit, idempotent
push, and every database and audit write.

The process is warmed up like a long-lived worker first: one run that is not counted
imports what a worker imports once (GitPython, which runs `git version` twice on import,
the engine, the templates) and gives the files the baseline writes.

The baseline, measured in the same run on its own fresh remotes: the git command line
cloning the same branch (the same depth, single branch, through the transport), writing
the very files the run committed (taken from the run's branch), committing them and
pushing a branch. The two sides alternate, and swap which goes first on every
repetition, so a busy moment of the machine hits both. The figures are wall time and CPU
time (this process plus its finished children, git included); both ratios must stay
within the target, as the ratio of the medians and as the median of the run-by-run
ratios (each run against the baseline next to it, which a burst of load cannot tilt as
easily). The baseline's own time is printed too: a ratio only compares with one
measured against a baseline of about the same time.

--phases N times each phase of N more runs (clone, detection, gap, plan, diffs, database
writes, checks, commit, push, every git step), inclusive and exclusive of the phases
inside it; --profile FILE saves a cProfile (CPU clock) of one more run.

Usage: uv run python bench/provision.py [--runs 5] [--phases N] [--profile FILE]. The
last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seed_repos import git, make_seed  # noqa: E402 - after the path

TARGET_RATIO = 1.5
TARGET_RSS_MB = 200


def manifest_yaml(leaders: int, per_leader: int) -> str:
    lines = [
        "apiVersion: bmadweb/v1",
        "project:",
        "  name: bench",
        '  bmad_version: ">=6.4,<7"',
        "  modules: [core, bmm]",
        "  tools: [claude-code, cursor]",
        "leaders:",
    ]
    for i in range(leaders):
        lines += [
            f"  - id: leader-{i}",
            f"    name: Leader {i}",
            "    domain: engineering",
            "    phase: implementation",
            f"    description: Routes the requests of team {i} to the right specialist.",
            "    specialists:",
        ]
        for j in range(per_leader):
            lines += [
                f"      - id: spec-{i}-{j}",
                f"        name: Specialist {i}.{j}",
                f"        domain: topic {j}",
                f"        skills: [review, topic-{j}]",
                "        compliance_notes: Synthetic data only.",
            ]
    lines += ["customizations:", "  bmad-agent-pm:", '    principles: ["Short PRDs."]']
    return "\n".join(lines) + "\n"


def fresh_remote(seed: Path, folder: Path, name: str) -> Path:
    bare = folder / f"{name}.git"
    git("clone", "--quiet", "--bare", str(seed), str(bare), cwd=folder)
    return bare


def setup_django(var_dir: Path) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "BMADWEB_RUN_CHECKPOINT_DIR"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bmadweb.settings",
            "BMADWEB_VAR_DIR": str(var_dir),
            "BMADWEB_WORK_DIR": str(var_dir / "work"),
            "BMADWEB_ALLOW_LOCAL_REPOS": "1",
            # The bench's remotes lie beside var/, in its temporary folder.
            "BMADWEB_LOCAL_REPOS_ROOT": str(var_dir.parent),
            "BMADWEB_LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "0",  # as in production: no per-query bookkeeping
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def cpu_s() -> float:
    """CPU seconds used so far by this process and its finished children (git)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def children_cpu_s() -> float:
    """CPU seconds of the finished children alone (git and what git started)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


class GitSteps(logging.Handler):
    """Counts the git processes GitPython starts (it logs each at DEBUG, before Popen)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("Popen("):
            self.count += 1

    def __enter__(self) -> GitSteps:
        logger = logging.getLogger("git.cmd")
        self._saved = logger.level, logger.propagate
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # counted here, printed nowhere
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("git.cmd")
        logger.removeHandler(self)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]


def provision_once(owner: Any, remote: Path, index: int, yaml_text: str) -> dict[str, Any]:
    """One run through the services, as a worker executes it: seconds, CPU, git steps."""
    from projects import services as project_services
    from provisioning.models import RunKind
    from provisioning.runs import services

    project = project_services.project_create(
        actor=owner,
        name=f"Bench {index}",
        slug=f"bench-{index}",
        repo_url=str(remote),
        forge_kind="other",
        push_mode="branch",
    )
    project_services.manifest_save(actor=owner, project=project, yaml_text=yaml_text)
    with GitSteps() as steps:
        started, cpu, git_cpu = time.perf_counter(), cpu_s(), children_cpu_s()
        run = services.run_create(
            project=project, kind=RunKind.PROVISION, actor=owner, enqueue=False
        )
        services.run_execute(run_id=run.pk)
        elapsed, cpu, git_cpu = (
            time.perf_counter() - started,
            cpu_s() - cpu,
            children_cpu_s() - git_cpu,
        )
    run.refresh_from_db(fields=["status", "failure_reason", "branch"])
    if run.status != "pushed":
        raise SystemExit(f"run #{run.pk} ended {run.status}: {run.failure_reason}")
    # Figures only: keeping the run (its report and plan) would grow this process's RSS.
    return {
        "s": elapsed,
        "cpu": cpu,
        "git_cpu": git_cpu,
        "git_steps": steps.count,
        "branch": run.branch,
    }


def committed_files(remote: Path, branch: str) -> dict[str, bytes | None]:
    """What the run's commit changed: path → new content (None: deleted)."""
    out = git("diff", "--name-status", "--no-renames", "main", branch, cwd=remote)
    files: dict[str, bytes | None] = {}
    for line in out.splitlines():
        status, path = line.split("\t", 1)
        if status == "D":
            files[path] = None
        else:
            files[path] = subprocess.run(
                ["git", "show", f"{branch}:{path}"], cwd=remote, capture_output=True, check=True
            ).stdout
    return files


def baseline_once(remote: Path, work: Path, files: dict[str, bytes | None]) -> dict[str, float]:
    """The git command line doing the same: clone, write, commit, push (seconds, CPU)."""
    started, cpu = time.perf_counter(), cpu_s()
    clone = work / "clone"
    git(
        "clone", "--quiet", "--depth=1", "--single-branch", "--branch", "main",
        "--no-local", str(remote), str(clone), cwd=work,
    )  # fmt: skip
    for rel, content in files.items():
        target = clone / rel
        if content is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    git("checkout", "--quiet", "-b", "baseline", cwd=clone)
    git("add", "--all", cwd=clone)
    git("commit", "--quiet", "--message", "baseline provision", cwd=clone)
    git("push", "--quiet", "origin", "HEAD:refs/heads/baseline", cwd=clone)
    elapsed, cpu = time.perf_counter() - started, cpu_s() - cpu
    shutil.rmtree(clone)
    return {"s": elapsed, "cpu": cpu}


def max_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def profile_once(owner: Any, remote: Path, yaml_text: str, out: Path) -> None:
    """One more run under cProfile with a CPU clock (the machine's load does not count),
    saved for pstats and summarised: the functions with the most CPU time under them."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    provision_once(owner, remote, 999, yaml_text)
    profiler.disable()
    profiler.dump_stats(out)
    print(f"profile of one more run (CPU clock, this process only; git is a child): {out}")
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(30)


# Where a run's time goes (--phases): the functions a run passes through, by the module
# that defines them, and what they do. Functions one version of the code lacks are
# skipped, so the same accounting runs on older commits too.
PHASES = (
    ("provisioning.runs.services", "run_create", "run_create: the run row, its audit record"),
    ("provisioning.runs.services", "run_execute", "run_execute"),
    ("provisioning.runs.execution", "_clone", "clone"),
    ("provisioning.git_ops.process", "tree_bytes", "disk budget: walks of the clone"),
    ("provisioning.runs.execution", "_plan", "plan_repo"),
    ("provisioning.engine.pipeline", "detect_install", "detect the install"),
    ("provisioning.engine.pipeline", "installation_findings", "installation findings"),
    ("provisioning.engine.pipeline", "generate", "generate the files"),
    ("provisioning.engine.pipeline", "analyze_generated", "gap report"),
    ("provisioning.engine.pipeline", "make_plan", "plan"),
    ("provisioning.runs.execution", "_record_report", "store the report (database)"),
    ("provisioning.runs.execution", "_store_plan", "store the plan (database)"),
    ("provisioning.engine.pipeline", "plan_to_dict", "plan as data"),
    ("provisioning.engine.pipeline", "plan_diff", "the patch"),
    ("provisioning.engine.pipeline", "plan_record", "the diffs, once (plan_record)"),
    ("provisioning.runs.lifecycle", "run_start_applying", "status: applying (database)"),
    ("provisioning.engine.plan", "apply_plan", "write the files"),
    ("provisioning.engine.plan", "check_plan", "check the targets"),
    ("provisioning.git_ops.files", "tracked_symlinks", "tracked symlinks"),
    ("provisioning.runs.execution", "_commit", "commit"),
    ("provisioning.runs.execution", "_push", "push"),
    ("provisioning.runs.execution", "_finish_pushed", "finish: status, audit (database)"),
    ("provisioning.runs.runlog", "run_log", "run log lines (database)"),
    ("provisioning.git_ops.workdir", "remove_tree", "remove folders (clone, git homes)"),
)


class PhaseClock:
    """Wall and CPU time (this process and its finished children) per phase, as a call
    tree: each phase inclusive and exclusive ("own") of the phases inside it."""

    def __init__(self) -> None:
        # call path -> [calls, wall, cpu, own wall, own cpu]
        self.totals: dict[tuple[str, ...], list[float]] = {}
        self.stack: list[list[Any]] = []
        self.undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, label: str, func: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            name = f"git {kwargs.get('step', '?')}" if label == "git" else label
            path = (*self.stack[-1][0], name) if self.stack else (name,)
            frame = [path, time.perf_counter(), cpu_s(), 0.0, 0.0]
            self.stack.append(frame)
            try:
                return func(*args, **kwargs)
            finally:
                self.stack.pop()
                wall, cpu = time.perf_counter() - frame[1], cpu_s() - frame[2]
                row = self.totals.setdefault(path, [0, 0.0, 0.0, 0.0, 0.0])
                row[0] += 1
                row[1] += wall
                row[2] += cpu
                row[3] += wall - frame[3]
                row[4] += cpu - frame[4]
                if self.stack:
                    self.stack[-1][3] += wall
                    self.stack[-1][4] += cpu

        return timed

    def __enter__(self) -> PhaseClock:
        import importlib

        targets = [*PHASES, ("provisioning.git_ops.process", "run_git", "git")]
        for module_name, name, label in targets:
            try:
                original = getattr(importlib.import_module(module_name), name)
            except (ImportError, AttributeError):
                continue  # not in this version of the code
            timed = self._wrap(label, original)
            for module in list(sys.modules.values()):  # every module that imported it by name
                if getattr(module, "__name__", "").startswith("provisioning") and (
                    getattr(module, name, None) is original
                ):
                    setattr(module, name, timed)
                    self.undo.append((module, name, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for module, name, original in reversed(self.undo):
            setattr(module, name, original)

    def report(self, runs: int) -> None:
        heading = "phase, per run (a nested phase is part of its parent's time)"
        print(f"{heading:<62} {'CPU ms':>7} {'own CPU':>8} {'wall ms':>8}")
        steps = 0.0
        for path in sorted(self.totals, key=self._order):
            calls, wall, cpu, _, own_cpu = self.totals[path]
            steps += calls / runs if path[-1].startswith("git ") else 0
            times = f" x{calls / runs:g}" if calls != runs else ""
            label = f"{'  ' * (len(path) - 1)}{path[-1]}{times}"
            print(f"{label:<62} {cpu / runs * 1000:7.1f} {own_cpu / runs * 1000:8.1f} "
                  f"{wall / runs * 1000:8.1f}")  # fmt: skip
        print(f"git steps per run: {steps:g}")

    def _order(self, path: tuple[str, ...]) -> list[float]:
        """Depth first, the costliest (CPU) first among siblings."""
        return [-self.totals[path[: i + 1]][2] for i in range(len(path))]


def phases(owner: Any, seed: Path, tmp: Path, yaml_text: str, runs: int) -> None:
    """More runs with each phase timed (a few microseconds per timed call)."""
    with PhaseClock() as clock:
        for i in range(runs):
            provision_once(owner, fresh_remote(seed, tmp, f"phases{i}"), 900 + i, yaml_text)
    print(f"where the time goes, {runs} more runs (CPU: this process and git):")
    clock.report(runs)


def median(values: list[float]) -> float:
    return statistics.median(values)


def listing(values: Iterable[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--leaders", type=int, default=10)
    parser.add_argument("--per-leader", type=int, default=10)
    parser.add_argument("--extra-files", type=int, default=1000, help="padding files in the repo")
    parser.add_argument("--profile", type=Path, help="also profile one more run into FILE")
    parser.add_argument(
        "--phases", type=int, default=0, metavar="N", help="also time each phase of N more runs"
    )
    args = parser.parse_args()
    yaml_text = manifest_yaml(args.leaders, args.per_leader)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bmadweb-bench-") as tmp_name:
        tmp = Path(tmp_name)
        var_dir = tmp / "var"
        setup_django(var_dir)
        from django.contrib.auth import get_user_model

        from bmadweb.embedded_redis import embedded_redis_start, embedded_redis_stop

        embedded_redis_start(var_dir / "redis")
        try:
            seed = make_seed(tmp, args.extra_files)
            owner = get_user_model().objects.create_user("bench")  # no password: never logs in
            rss_before = max_rss_mb(resource.RUSAGE_SELF)
            gitpython_loaded = "git" in sys.modules
            # The warm-up run (not counted): what a worker has done before its next run.
            warmup = provision_once(owner, fresh_remote(seed, tmp, "warmup"), 0, yaml_text)
            files = committed_files(tmp / "warmup.git", warmup["branch"])
            runs: list[dict[str, Any]] = []
            bases: list[dict[str, float]] = []
            for i in range(1, args.runs + 1):
                remote = fresh_remote(seed, tmp, f"run{i}")
                base_remote = fresh_remote(seed, tmp, f"base{i}")
                work = tmp / f"base{i}"
                work.mkdir()
                if i % 2:  # alternate which side goes first, so load changes hit both
                    runs.append(provision_once(owner, remote, i, yaml_text))
                    bases.append(baseline_once(base_remote, work, files))
                else:
                    bases.append(baseline_once(base_remote, work, files))
                    runs.append(provision_once(owner, remote, i, yaml_text))
            repo_files = int(git("ls-tree", "-r", "--name-only", "main", cwd=seed).count("\n")) + 1
            if args.profile:
                profile_once(owner, fresh_remote(seed, tmp, "profile"), yaml_text, args.profile)
            if args.phases:
                phases(owner, seed, tmp, yaml_text, args.phases)
        finally:
            embedded_redis_stop(var_dir / "redis")
    report(args, runs, bases, warmup, files, repo_files, rss_before, gitpython_loaded, load_before)


def report(
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    bases: list[dict[str, float]],
    warmup: dict[str, Any],
    files: dict[str, bytes | None],
    repo_files: int,
    rss_before: float,
    gitpython_loaded: bool,
    load_before: float,
) -> None:
    wall, base = median([r["s"] for r in runs]), median([b["s"] for b in bases])
    cpu, base_cpu = median([r["cpu"] for r in runs]), median([b["cpu"] for b in bases])
    git_cpu = median([r["git_cpu"] for r in runs])
    steps = sorted({r["git_steps"] for r in runs})
    ratio, cpu_ratio = wall / base, cpu / base_cpu
    # Each run against the baseline measured right next to it: a burst of load that slows
    # one pair barely moves the median of the pairs (the same burst would drag the
    # baseline's own median up and hide a cost in the ratio of medians).
    paired = median([r["s"] / b["s"] for r, b in zip(runs, bases, strict=True)])
    paired_cpu = median([r["cpu"] / b["cpu"] for r, b in zip(runs, bases, strict=True)])
    peak = max_rss_mb(resource.RUSAGE_SELF)
    specialists = args.leaders * args.per_leader
    git_version = git("version", cwd=Path.cwd()).removeprefix("git version ")
    print(
        f"manifest: {args.leaders} leaders x {args.per_leader} specialists ({specialists}), "
        f"claude-code + cursor; repo: {repo_files} files; commit: {len(files)} files"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end; git {git_version}; Python {sys.version.split()[0]}"
    )
    print(
        f"warm-up: one run not counted ({warmup['s']:.3f} s, {warmup['cpu']:.3f} s CPU), as a "
        "worker has run before; GitPython was "
        + ("already imported" if gitpython_loaded else "imported during it, not in the timed runs")
    )
    print(
        f"provision (run_create + run_execute): median {wall:.3f} s, CPU {cpu:.3f} s "
        f"(git processes {git_cpu:.3f} s) over {args.runs} runs; "
        f"{'/'.join(map(str, steps))} git steps per run"
    )
    print(f"   wall: {listing(r['s'] for r in runs)}")
    print(f"   CPU:  {listing(r['cpu'] for r in runs)}")
    print(f"baseline (git clone, write, commit, push): median {base:.3f} s, CPU {base_cpu:.3f} s")
    print(f"   wall: {listing(b['s'] for b in bases)}")
    print(f"   CPU:  {listing(b['cpu'] for b in bases)}")
    print(
        f"wall ratio {ratio:.2f}x against a baseline of {base:.3f} s; CPU ratio "
        f"{cpu_ratio:.2f}x against {base_cpu:.3f} s CPU (targets <= {TARGET_RATIO} each; the "
        "CPU ratio is the steadier one on a busy machine)"
    )
    print(
        f"run by run (each against the baseline next to it): median wall ratio {paired:.2f}x, "
        f"CPU ratio {paired_cpu:.2f}x (same targets)"
    )
    print(
        f"peak RSS of this worker-like process {peak:.0f} MB ({rss_before:.0f} MB before the "
        f"first run; target <= {TARGET_RSS_MB})"
    )
    failed = [
        what
        for what, bad in (
            (f"wall ratio {ratio:.2f} > {TARGET_RATIO}", ratio > TARGET_RATIO),
            (f"CPU ratio {cpu_ratio:.2f} > {TARGET_RATIO}", cpu_ratio > TARGET_RATIO),
            (f"run-by-run wall ratio {paired:.2f} > {TARGET_RATIO}", paired > TARGET_RATIO),
            (f"run-by-run CPU ratio {paired_cpu:.2f} > {TARGET_RATIO}", paired_cpu > TARGET_RATIO),
            (f"peak RSS {peak:.0f} MB > {TARGET_RSS_MB}", peak > TARGET_RSS_MB),
        )
        if bad
    ]
    print("PASS" if not failed else "FAIL: " + "; ".join(failed))
    result = {
        "median_s": round(wall, 4),
        "baseline_median_s": round(base, 4),
        "ratio": round(ratio, 2),
        "cpu_median_s": round(cpu, 4),
        "git_cpu_median_s": round(git_cpu, 4),
        "baseline_cpu_median_s": round(base_cpu, 4),
        "cpu_ratio": round(cpu_ratio, 2),
        "paired_ratio": round(paired, 2),
        "paired_cpu_ratio": round(paired_cpu, 2),
        "peak_rss_mb": round(peak, 1),
        "git_steps": steps[-1],
        "specialists": specialists,
        "committed_files": len(files),
        "repo_files": repo_files,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "passed": not failed,
    }
    print(json.dumps(result))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
