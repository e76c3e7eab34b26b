"""Mutation testing (mutmut) of the modules whose tests guard the most, one module at a time.

    python tools/mutation.py                 # every module below
    python tools/mutation.py merge urlpolicy # some of them

Each module runs in its own copy of the project under var/mutation/<name>/ with its own
test selection (mutmut takes its settings from the pyproject.toml where it runs), bounded
in time (MUTATION_TIMEOUT seconds, default 2400) and in workers (MUTATION_JOBS, default
2). The summary lands in var/mutation/<name>.txt: the counts, the score and the diff of
every surviving mutant. `make mutation` runs this; CI does not (docs/mutation.md).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "mutation"
COPIED = ("bmadweb", "projects", "provisioning", "tests", "templates", "static")
COPIED_FILES = ("pyproject.toml", "uv.lock", "manage.py")


@dataclass(frozen=True)
class Target:
    source: str
    tests: tuple[str, ...]


TARGETS = {
    "merge": Target(
        "provisioning/engine/merge.py",
        (
            "tests/provisioning/engine/test_merge.py",
            "tests/provisioning/engine/test_merge_regions.py",
        ),
    ),
    "plan": Target(
        "provisioning/engine/plan.py",
        (
            "tests/provisioning/engine/test_plan.py",
            "tests/provisioning/engine/test_plan_details.py",
        ),
    ),
    # The checks' own unit tests: the receiver's tests (HTTP, database, queue) would take
    # hours over every mutant and add little.
    "webhook_checks": Target(
        "provisioning/webhooks/checks.py", ("tests/provisioning/webhooks/test_checks_edges.py",)
    ),
    "urlpolicy": Target(
        "provisioning/git_ops/urlpolicy.py",
        (
            "tests/provisioning/git_ops/test_urlpolicy.py",
            "tests/provisioning/git_ops/test_urlpolicy_names.py",
            "tests/provisioning/git_ops/test_urlpolicy_rules.py",
        ),
    ),
    "audit": Target(
        "bmadweb/audit.py",
        ("tests/bmadweb/test_audit.py", "tests/bmadweb/test_audit_signed_fields.py"),
    ),
}


def _toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def _prepare(name: str, target: Target) -> Path:
    work = OUT / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in COPIED:
        shutil.copytree(ROOT / folder, work / folder, ignore=ignore)
    for file in COPIED_FILES:
        shutil.copy2(ROOT / file, work / file)
    tests = [t for t in target.tests if (ROOT / t).exists()]
    config = f"""
[tool.mutmut]
source_paths = ["bmadweb", "projects", "provisioning"]
only_mutate = [{json.dumps(target.source)}]
also_copy = ["templates", "static", "manage.py"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]
pytest_add_cli_args_test_selection = {_toml_list(tests)}
use_git_change_detection = false
# Workers fork from a process that has run no test: a SQLite connection inherited from a
# test run, shared by two workers, fails them with "disk I/O error" (false kills).
process_isolation = "forkserver"
"""
    with (work / "pyproject.toml").open("a", encoding="utf-8") as handle:
        handle.write(config)
    return work


def _env(work: Path) -> dict[str, str]:
    env = {**os.environ, "BMADWEB_VAR_DIR": str(work / "var")}
    env.pop("DATABASE_URL", None)  # SQLite: every test process has its own database
    # One embedded Redis for the module's whole run (see main): starting and stopping one
    # in every test process would cost more than most of the tests.
    env["REDIS_URL"] = f"unix://{work / 'redis' / 'redis.sock'}?db=0"
    return env


def _mutmut(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run(
        [str(exe), *args], cwd=work, env=_env(work), capture_output=True, text=True, check=False
    )


def _run_bounded(work: Path, log: Path, jobs: str, timeout: float) -> str:
    """`mutmut run` in its own process group, stopped with all its workers at `timeout`."""
    exe = Path(sys.executable).with_name("mutmut")
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [str(exe), "run", "--max-children", jobs],
            cwd=work,
            env=_env(work),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            out.write(f"\nstopped after {timeout:.0f}s\n")
    return log.read_text(encoding="utf-8", errors="replace")


def _report(name: str, target: Target, work: Path, run_log: str) -> str:
    _mutmut(work, "export-cicd-stats")
    stats_file = work / "mutants" / "mutmut-cicd-stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    results = _mutmut(work, "results").stdout
    survivors = [line.strip().split(":")[0] for line in results.splitlines() if "survived" in line]
    others = [
        line.strip() for line in results.splitlines() if line.strip() and "survived" not in line
    ]
    killed = int(stats.get("killed", 0)) + int(stats.get("timeout", 0))
    tested = killed + int(stats.get("survived", 0))
    score = f"{100 * killed / tested:.1f}%" if tested else "n/a"
    lines = [
        f"module: {target.source}",
        f"tests: {' '.join(target.tests)}",
        f"stats: {json.dumps(stats, sort_keys=True)}",
        f"score: {score} ({killed} killed of {tested} tested, {len(survivors)} survived)",
        "",
        "not killed nor survived (no tests, timeout, suspicious):",
        *others,
        "",
    ]
    for mutant in survivors:
        lines.append(_mutmut(work, "show", mutant).stdout)
    lines += ["", "--- mutmut run output (tail) ---", *run_log.splitlines()[-40:]]
    text = "\n".join(lines) + "\n"
    (OUT / f"{name}.txt").write_text(text, encoding="utf-8")
    return f"{name}: {score} ({killed} killed of {tested}, {len(survivors)} survived)"


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown module(s): {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
        return 2
    timeout = float(os.environ.get("MUTATION_TIMEOUT", "2400"))
    jobs = os.environ.get("MUTATION_JOBS", "2")
    summary = []
    sys.path.insert(0, str(ROOT))
    from bmadweb.embedded_redis import embedded_redis_start, embedded_redis_stop

    for name in names or list(TARGETS):
        target = TARGETS[name]
        work = _prepare(name, target)
        print(f"== {name}: mutating {target.source}", flush=True)
        embedded_redis_start(work / "redis")
        try:
            log = _run_bounded(work, OUT / f"{name}.log", jobs, timeout)
        finally:
            embedded_redis_stop(work / "redis")
        summary.append(_report(name, target, work, log))
        print(summary[-1], flush=True)
    print("\n".join(["", "Mutation scores (details in var/mutation/<module>.txt):", *summary]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
