"""Workers killed mid-run (docs/security.md#s16): a real `manage.py rqworker` process runs the
job, stops at a named checkpoint (provisioning.runs.runlog.checkpoint) or inside the remote's
pre-receive hook, and is SIGKILLed there. The reconciler then hands the run to a fresh
worker, and the run must end pushed with exactly one commit on the remote.

The worker process shares the test database (a file for SQLite, `test_<name>` on
PostgreSQL) and the test Redis through DATABASE_URL and REDIS_URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import services
from tests.repos import git, remote_branches, remote_commits
from tests.worker_process import worker_env as shared_worker_env

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]
WAIT_S = 90


@pytest.fixture
def checkpoints(tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    return folder


@pytest.fixture
def work_dir(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / "work"
    settings.WORK_DIR = folder
    return folder


@pytest.fixture
def worker_env(redis_url: str, checkpoints: Path, work_dir: Path) -> dict[str, str]:
    return shared_worker_env(redis_url, work_dir, BMADWEB_RUN_CHECKPOINT_DIR=str(checkpoints))


class CrashWorker:
    """`manage.py rqworker --burst` in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "rqworker",
                    "default",
                    "--burst",
                    "--worker-class",
                    "rq.worker.SimpleWorker",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for(self, marker: Path) -> None:
        deadline = time.monotonic() + WAIT_S
        while not marker.exists():
            if self.proc.poll() is not None:
                pytest.fail(f"the worker ended before {marker.name}:\n{self._tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the worker did not reach {marker.name}:\n{self._tail()}")
            time.sleep(0.02)

    def kill(self, *, with_children: bool = False) -> None:
        """SIGKILL the worker's process group; `with_children` also kills what it started
        in other sessions (git and the processes serving its push), as a machine crash."""
        doomed = _descendants(self.proc.pid) if with_children else []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _crash_at(point: str, run: Run, checkpoints: Path, env: dict[str, str]) -> None:
    """Run the run's job in a worker process and kill that process at `point`."""
    hold, marker = checkpoints / f"hold.{point}", checkpoints / f"{run.pk}.{point}"
    marker.unlink(missing_ok=True)
    hold.touch()
    worker = CrashWorker(env, checkpoints / "worker.log")
    try:
        worker.wait_for(marker)
    finally:
        worker.kill()
        hold.unlink()


def _recover(run: Run, run_worker) -> Run:  # type: ignore[no-untyped-def]
    """What the scheduled reconciler does, then a fresh worker."""
    assert run.pk in services.runs_reconcile(stale_after=timedelta(0))
    run_worker()
    run.refresh_from_db()
    return run


def _start_provision(project, owner) -> Run:  # type: ignore[no-untyped-def]
    run = services.run_create(project=project, kind=RunKind.PROVISION, actor=owner)
    run.refresh_from_db()
    assert run.job_id  # enqueued on commit
    return run


def _log(run: Run) -> str:
    return "\n".join(run.log_entries.values_list("message", flat=True))


@pytest.mark.parametrize(
    ("point", "status_at_crash", "branch_at_crash"),
    [
        ("after_clone", RunStatus.RUNNING, False),
        ("after_commit", RunStatus.APPLYING, False),
        ("after_push", RunStatus.APPLYING, True),
    ],
)
def test_worker_killed_mid_run_is_resumed_and_pushes_one_commit(
    point,
    status_at_crash,
    branch_at_crash,
    bmad_project,
    owner,
    bmad_remote,
    checkpoints,
    worker_env,
    redis_conn,
    run_worker,
):
    base = remote_commits(bmad_remote, "main")
    run = _start_provision(bmad_project, owner)
    branch = f"bmadweb/healthai/{run.pk}"
    _crash_at(point, run, checkpoints, worker_env)
    run.refresh_from_db()
    assert run.status == status_at_crash
    assert (branch in remote_branches(bmad_remote)) is branch_at_crash
    run = _recover(run, run_worker)
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert remote_branches(bmad_remote) == sorted(["main", branch])
    assert remote_commits(bmad_remote, branch) == [run.commit_sha, *base]
    assert remote_commits(bmad_remote, "main") == base
    assert run.attempts == 2


def test_worker_killed_after_push_resumes_without_pushing_again(
    bmad_project, owner, bmad_remote, checkpoints, worker_env, redis_conn, run_worker
):
    run = _start_provision(bmad_project, owner)
    _crash_at("after_push", run, checkpoints, worker_env)
    landed = git("rev-parse", f"bmadweb/healthai/{run.pk}", cwd=bmad_remote)
    run = _recover(run, run_worker)
    assert run.commit_sha == landed
    assert "Already pushed" in _log(run)


def _hold_pushes_on_the_remote(checkpoints: Path, worker_env: dict[str, str]) -> Path:
    """Make the worker's pushes signal and wait while held, then complete.

    A local remote's hooks never run (docs/security.md#s5), so the push itself is held:
    the worker finds a `git` first on its PATH that, started as `git push`, signals and
    waits, then runs the real git (in the push's own process group, as before)."""
    real_git = shutil.which("git")
    assert real_git is not None
    folder = checkpoints / "bin"
    folder.mkdir(exist_ok=True)
    wrapper = folder / "git"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do\n'
        '  if [ "$arg" = push ]; then\n'
        f'    touch "{checkpoints}/in_push"\n'
        f'    while [ -e "{checkpoints}/hold.push" ]; do sleep 0.05; done\n'
        "    break\n"
        "  fi\n"
        "done\n"
        f'exec "{real_git}" "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    worker_env["PATH"] = f"{folder}{os.pathsep}{worker_env.get('PATH', '')}"
    hold = checkpoints / "hold.push"
    hold.touch()
    return hold


def _wait_for_branch(bare: Path, branch: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while branch not in remote_branches(bare):
        if time.monotonic() > deadline:
            pytest.fail(f"{branch} never landed on the remote")
        time.sleep(0.05)
    return git("rev-parse", branch, cwd=bare)


def test_machine_dying_during_push_leaves_no_branch_and_the_retry_pushes_once(
    bmad_project, owner, bmad_remote, checkpoints, worker_env, redis_conn, run_worker
):
    base = remote_commits(bmad_remote, "main")
    hold = _hold_pushes_on_the_remote(checkpoints, worker_env)
    run = _start_provision(bmad_project, owner)
    worker = CrashWorker(worker_env, checkpoints / "worker.log")
    try:
        worker.wait_for(checkpoints / "in_push")
    finally:
        worker.kill(with_children=True)  # the worker, its git push and the remote's side
        hold.unlink()
    branch = f"bmadweb/healthai/{run.pk}"
    assert remote_branches(bmad_remote) == ["main"]
    run = _recover(run, run_worker)
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert remote_commits(bmad_remote, branch) == [run.commit_sha, *base]


def test_worker_dying_while_its_push_completes_ends_with_that_same_commit(
    bmad_project, owner, bmad_remote, checkpoints, worker_env, redis_conn, run_worker
):
    base = remote_commits(bmad_remote, "main")
    hold = _hold_pushes_on_the_remote(checkpoints, worker_env)
    run = _start_provision(bmad_project, owner)
    worker = CrashWorker(worker_env, checkpoints / "worker.log")
    try:
        worker.wait_for(checkpoints / "in_push")
    finally:
        worker.kill()  # git push runs in its own session and outlives the worker
        hold.unlink()
    branch = f"bmadweb/healthai/{run.pk}"
    landed = _wait_for_branch(bmad_remote, branch)
    run = _recover(run, run_worker)
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert run.commit_sha == landed
    assert remote_commits(bmad_remote, branch) == [landed, *base]


def test_direct_push_killed_after_push_is_recognised_and_not_pushed_again(
    bmad_project, owner, bmad_remote, checkpoints, worker_env, redis_conn, run_worker
):
    base = remote_commits(bmad_remote, "main")
    bmad_project.push_mode = "direct"
    bmad_project.save()
    run = _start_provision(bmad_project, owner)
    run_worker()  # plans; direct pushes wait for an approver
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL
    services.run_approve(run=run, actor=owner)
    _crash_at("after_push", run, checkpoints, worker_env)
    assert len(remote_commits(bmad_remote, "main")) == len(base) + 1
    run = _recover(run, run_worker)
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert remote_commits(bmad_remote, "main") == [run.commit_sha, *base]
    assert remote_branches(bmad_remote) == ["main"]


def test_run_whose_worker_dies_on_every_attempt_ends_failed_with_a_plain_reason(
    bmad_project, owner, bmad_remote, checkpoints, worker_env, redis_conn, settings
):
    settings.RUN_MAX_ATTEMPTS = 2
    run = _start_provision(bmad_project, owner)
    _crash_at("after_clone", run, checkpoints, worker_env)
    assert services.runs_reconcile(stale_after=timedelta(0)) == [run.pk]
    _crash_at("after_clone", run, checkpoints, worker_env)
    assert services.runs_reconcile(stale_after=timedelta(0)) == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.FAILED, 2)
    assert run.failure_reason == "The worker stopped during the run 2 times; giving up."
    assert remote_branches(bmad_remote) == ["main"]
    assert redis_conn.llen("rq:queue:default") == 0
