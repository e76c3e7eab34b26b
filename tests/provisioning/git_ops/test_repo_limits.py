"""Repositories (docs/security.md#s5, #s6, #s7, #g8): a plan that writes into a submodule
fails the run instead of committing an incomplete set; the file count has a budget like
the bytes; pushes to local repositories never run the remote's hooks nor hand it
credentials; local repository paths must lie under the configured root."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from provisioning import git_ops
from provisioning.git_ops import process
from provisioning.git_ops.urlpolicy import UrlPolicyError, check_repo_url
from provisioning.models import RunKind, RunStatus
from provisioning.runs import services
from tests.repos import git, make_remote, remote_branches

SKILL_DIR = ".claude/skills/frontend-specialist"  # the plan writes SKILL.md in there


def _policy(tmp_path: Path, **options: object) -> git_ops.GitPolicy:
    return git_ops.GitPolicy(allow_local=True, temp_base=tmp_path, **options)  # type: ignore[arg-type]


# --- Submodules ---------------------------------------------------------------------------


def _add_gitlink(bare: Path, tmp_path: Path, path: str) -> None:
    """Record a submodule (gitlink) at `path` on main, as a team would with git submodule."""
    work = tmp_path / "with-submodule"
    git("clone", "--quiet", str(bare), str(work), cwd=tmp_path)
    some_commit = git("rev-parse", "HEAD", cwd=work)
    git("update-index", "--add", "--cacheinfo", f"160000,{some_commit},{path}", cwd=work)
    git("commit", "--quiet", "--message", "add a submodule", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)


@pytest.mark.django_db
def test_a_plan_writing_into_a_submodule_fails_the_run_clearly(
    bmad_project, owner, bmad_remote, tmp_path, run_worker, django_capture_on_commit_callbacks
):
    _add_gitlink(bmad_remote, tmp_path, SKILL_DIR)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_create(project=bmad_project, kind=RunKind.PROVISION, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED, run.failure_reason
    assert "inside the submodule" in run.failure_reason
    assert SKILL_DIR in run.failure_reason
    assert remote_branches(bmad_remote) == ["main"]  # nothing incomplete was pushed


def test_tracked_submodules_are_listed(tmp_path):
    bare = make_remote(tmp_path)
    _add_gitlink(bare, tmp_path, "vendor/lib")
    cloned = git_ops.clone(str(bare), tmp_path / "c", branch="main", policy=_policy(tmp_path))
    assert git_ops.tracked_submodules(cloned, _policy(tmp_path)) == {"vendor/lib"}
    assert git_ops.tracked_symlinks(cloned, _policy(tmp_path)) == frozenset()


# --- File count budget --------------------------------------------------------------------


def test_too_many_files_exceed_the_limit_before_checkout_and_leave_nothing(tmp_path):
    bare = make_remote(tmp_path)
    work = tmp_path / "many"
    git("clone", "--quiet", str(bare), str(work), cwd=tmp_path)
    for i in range(300):
        (work / f"empty-{i}.txt").touch()
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "--message", "many empty files", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    dest = tmp_path / "clone"
    with pytest.raises(git_ops.GitLimitExceeded, match="files"):
        git_ops.clone(str(bare), dest, branch="main", policy=_policy(tmp_path, max_repo_files=200))
    assert not dest.exists()
    # The same repository within the budget clones.
    git_ops.clone(str(bare), dest, branch="main", policy=_policy(tmp_path, max_repo_files=1000))


# --- Local pushes ---------------------------------------------------------------------------


def _armed_hook(bare: Path, canary: Path) -> None:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nenv > '{canary}'\nexit 0\n")
    hook.chmod(0o755)


def test_the_hook_fixture_fires_under_plain_git(tmp_path):
    """The control: a plain push to the same remote runs its hook."""
    bare = make_remote(tmp_path)
    canary = tmp_path / "hook-ran"
    _armed_hook(bare, canary)
    work = tmp_path / "plain"
    git("clone", "--quiet", str(bare), str(work), cwd=tmp_path)
    git("push", "--quiet", "origin", "HEAD:refs/heads/plain", cwd=work)
    assert canary.exists()


def test_a_local_push_never_runs_the_remotes_hooks_nor_hands_it_credentials(tmp_path):
    bare = make_remote(tmp_path)
    canary = tmp_path / "hook-ran"
    _armed_hook(bare, canary)
    policy = _policy(tmp_path)
    cloned = git_ops.clone(str(bare), tmp_path / "c", branch="main", policy=policy)
    (cloned.path / "new.txt").write_text("x")
    credentials = git_ops.Credentials(https_token="canary-token-0123456789")
    sha = git_ops.commit_all(
        cloned,
        branch="bmadweb/x/1",
        message="add",
        run_id="1",
        author_name="t",
        author_email="t@example.test",
        date=datetime.now(UTC),
        policy=policy,
    )
    result = git_ops.push_branch(
        cloned, str(bare), "bmadweb/x/1", credentials=credentials, policy=policy
    )
    assert (result.status, result.sha) == ("pushed", sha)
    assert not canary.exists()  # no hook ran: nothing saw the environment
    checked = process.check_url(str(bare), policy)
    with process.git_session(policy, credentials=credentials, checked=checked) as session:
        assert "canary-token-0123456789" not in str(session.env)
        assert "GIT_ASKPASS" not in session.env
        assert session.env["HOME"] != os.environ.get("HOME")


# --- Local root -----------------------------------------------------------------------------


def test_local_paths_must_lie_under_the_root(tmp_path):
    root = tmp_path / "root"
    inside, outside = root / "team" / "app.git", tmp_path / "elsewhere" / "app.git"
    for folder in (inside, outside):
        folder.mkdir(parents=True)
    (root / "escape").symlink_to(outside)
    assert check_repo_url(str(inside), allow_local=True, local_root=root).kind == "local"
    assert check_repo_url(f"file://{inside}", allow_local=True, local_root=root).kind == "local"
    for url in (
        str(outside),
        f"file://{outside}",
        str(root / "escape"),
        f"{root}/../elsewhere/app.git",
    ):
        with pytest.raises(UrlPolicyError) as info:
            check_repo_url(url, allow_local=True, local_root=root)
        assert info.value.rule == "local_root"


@pytest.mark.django_db
def test_a_project_cannot_name_a_local_repository_outside_the_root(tmp_path, settings):
    from projects.validators import validate_repo_url

    settings.LOCAL_REPOS_ROOT = tmp_path / "root"
    (tmp_path / "root").mkdir()
    (tmp_path / "etc-like").mkdir()
    with pytest.raises(ValidationError, match="local root"):
        validate_repo_url(str(tmp_path / "etc-like"))


def test_the_git_door_refuses_a_path_outside_the_root(tmp_path):
    bare = make_remote(tmp_path)
    policy = _policy(tmp_path, local_root=tmp_path / "root")
    (tmp_path / "root").mkdir()
    with pytest.raises(UrlPolicyError) as info:
        git_ops.clone(str(bare), tmp_path / "c", branch="main", policy=policy)
    assert info.value.rule == "local_root"
