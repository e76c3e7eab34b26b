"""Benchmark: provisioning 100 specialists end to end, against plain git doing the same push.

Everything lives under a temporary folder: a throwaway SQLite database and an embedded
Redis (through BMADWEB_VAR_DIR), and a bare remote holding a BMAD 6.12-shaped install
(provisioning.bmad_builders.build_v64). The manifest has 10 leaders x 10 specialists for
claude-code and cursor. Each repetition gets a fresh remote and a fresh project, and runs
`services.run_create(..., enqueue=False)` + `services.run_execute` in this process, as an
RQ worker would: clone, gap report, plan, apply, deterministic commit, idempotent push.

The baseline, measured in the same run on its own fresh remotes: the git command line
cloning the same branch, writing the very files the run committed (taken from the run's
branch), committing them and pushing a branch.

Usage: uv run python bench/provision.py [--runs 5]. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.5
TARGET_RSS_MB = 200
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.test",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.test",
}


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


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


def make_seed(folder: Path, extra_files: int) -> Path:
    from provisioning.demo.bmad_installs import build_v64

    seed = folder / "seed"
    seed.mkdir()
    build_v64(seed, extra_files=extra_files)
    git("init", "--quiet", "--initial-branch", "main", cwd=seed)
    git("add", "--all", cwd=seed)
    git("commit", "--quiet", "--message", "Install BMAD", cwd=seed)
    return seed


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


def provision_once(
    owner: Any, remote: Path, index: int, yaml_text: str
) -> tuple[float, float, Any]:
    """One run through the services, as a worker executes it: (seconds, CPU seconds, run)."""
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
    started, cpu = time.perf_counter(), cpu_s()
    run = services.run_create(project=project, kind=RunKind.PROVISION, actor=owner, enqueue=False)
    services.run_execute(run_id=run.pk)
    elapsed, cpu = time.perf_counter() - started, cpu_s() - cpu
    run.refresh_from_db()
    if run.status != "pushed":
        raise SystemExit(f"run #{run.pk} ended {run.status}: {run.failure_reason}")
    return elapsed, cpu, run


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


def baseline_once(remote: Path, work: Path, files: dict[str, bytes | None]) -> tuple[float, float]:
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
    return elapsed, cpu


def max_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--leaders", type=int, default=10)
    parser.add_argument("--per-leader", type=int, default=10)
    parser.add_argument("--extra-files", type=int, default=1000, help="padding files in the repo")
    args = parser.parse_args()
    yaml_text = manifest_yaml(args.leaders, args.per_leader)
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
            # A warm-up run (not counted) gives the files the baseline writes.
            *_, run = provision_once(owner, fresh_remote(seed, tmp, "warmup"), 0, yaml_text)
            files = committed_files(tmp / "warmup.git", run.branch)
            times, bases, cpus, base_cpus = [], [], [], []
            for i in range(1, args.runs + 1):  # alternate, so load changes hit both sides
                remote = fresh_remote(seed, tmp, f"run{i}")
                elapsed, cpu, _ = provision_once(owner, remote, i, yaml_text)
                times.append(elapsed)
                cpus.append(cpu)
                work = tmp / f"base{i}"
                work.mkdir()
                elapsed, cpu = baseline_once(fresh_remote(seed, tmp, f"base{i}"), work, files)
                bases.append(elapsed)
                base_cpus.append(cpu)
            repo_files = int(git("ls-tree", "-r", "--name-only", "main", cwd=seed).count("\n")) + 1
        finally:
            embedded_redis_stop(var_dir / "redis")
    median, base = statistics.median(times), statistics.median(bases)
    cpu, base_cpu = statistics.median(cpus), statistics.median(base_cpus)
    peak = max_rss_mb(resource.RUSAGE_SELF)
    specialists = args.leaders * args.per_leader
    print(
        f"manifest: {args.leaders} leaders x {args.per_leader} specialists ({specialists}), "
        f"claude-code + cursor; repo: {repo_files} files; commit: {len(files)} files"
    )
    print(f"provision (run_create + run_execute): median {median:.3f} s over {args.runs} runs")
    print(f"   runs: {', '.join(f'{t:.3f}' for t in times)}")
    print(f"baseline (git clone, write, commit, push): median {base:.3f} s")
    print(f"   runs: {', '.join(f'{t:.3f}' for t in bases)}")
    print(f"ratio {median / base:.2f}x (target <= {TARGET_RATIO})")
    print(
        f"CPU (this process + git children): median {cpu:.3f} s vs baseline {base_cpu:.3f} s, "
        f"ratio {cpu / base_cpu:.2f}x (steadier than wall time on a busy machine)"
    )
    print(
        f"peak RSS of this worker-like process {peak:.0f} MB ({rss_before:.0f} MB before the "
        f"first run; target <= {TARGET_RSS_MB})"
    )
    ok = median / base <= TARGET_RATIO and peak <= TARGET_RSS_MB
    print("PASS" if ok else "FAIL")
    result = {
        "median_s": round(median, 4),
        "baseline_median_s": round(base, 4),
        "ratio": round(median / base, 2),
        "peak_rss_mb": round(peak, 1),
        "cpu_median_s": round(cpu, 4),
        "baseline_cpu_median_s": round(base_cpu, 4),
        "cpu_ratio": round(cpu / base_cpu, 2),
        "specialists": specialists,
        "committed_files": len(files),
        "repo_files": repo_files,
        "runs": args.runs,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
