"""Django-side glue for the engine and git layer: policy from settings, credentials from
a project's encrypted fields, and a run log that scrubs secrets before storing a line."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from bmadweb.logscrub import register_secret
from projects.models import Project
from provisioning import git_ops

BMADWEB_IDENTITY = git_ops.Identity(name="bmadweb", email="bmadweb@users.noreply.localhost")


def git_policy() -> git_ops.GitPolicy:
    work_dir = Path(settings.WORK_DIR)
    work_dir.mkdir(parents=True, exist_ok=True)
    return git_ops.GitPolicy(
        allow_local=settings.ALLOW_LOCAL_REPOS,
        local_root=Path(settings.LOCAL_REPOS_ROOT),
        max_repo_bytes=settings.REPO_MAX_BYTES,
        max_repo_files=settings.REPO_MAX_FILES,
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
