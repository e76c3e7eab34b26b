"""Django-side glue for the engine and git layer: policy from settings, credentials from
a project's encrypted fields, and a run log that scrubs secrets before storing a line."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings

from bmadweb.logscrub import register_secret, scrub
from projects.models import Project
from provisioning import git_ops
from provisioning.models import LogLevel, Run, RunLogEntry

BMADWEB_IDENTITY = git_ops.Identity(name="bmadweb", email="bmadweb@users.noreply.localhost")


def git_policy() -> git_ops.GitPolicy:
    work_dir = Path(settings.WORK_DIR)
    work_dir.mkdir(parents=True, exist_ok=True)
    return git_ops.GitPolicy(
        allow_local=settings.ALLOW_LOCAL_REPOS,
        max_repo_bytes=settings.REPO_MAX_BYTES,
        timeout_s=float(settings.GIT_TIMEOUT_S),
        temp_base=work_dir,
    )


def credentials_for(project: Project) -> git_ops.Credentials | None:
    token = project.get_secret("clone_token")
    key = project.get_secret("ssh_private_key")
    if not token and not key:
        return None
    register_secret(token)
    for line in key.splitlines():
        register_secret(line.strip())
    return git_ops.Credentials(https_token=token or None, ssh_private_key=key or None)


def forge_token_for(project: Project) -> str:
    token = project.get_secret("forge_token")
    register_secret(token)
    return token


def run_log(run: Run, message: str, level: str = LogLevel.INFO) -> None:
    """Append one scrubbed line to the run's log."""
    RunLogEntry.objects.create(run=run, level=level, message=scrub(message)[:4000])


def checkpoint(run: Run, name: str) -> None:
    """A named point in a run where tests may stop the worker (crash tests).

    Does nothing unless BMADWEB_RUN_CHECKPOINT_DIR is set (tests only): then it marks
    the point as reached and, if told to hold there, waits until released.
    """
    folder = getattr(settings, "RUN_CHECKPOINT_DIR", None)
    if not folder:
        return
    base = Path(folder)
    (base / f"{run.pk}.{name}").touch()
    hold = base / f"hold.{name}"
    deadline = time.monotonic() + 60
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
