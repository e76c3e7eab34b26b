"""GitPython is the transport of the git door (docs/git-door.md), and the worker's own
environment still never reaches git: every step is started by ``git.Git.execute``, in a
session of its own, and runs with exactly the environment git_env built, however many
stray ``GIT_*`` variables the worker carries. Nothing here touches the network."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import git
import pytest

from provisioning.git_ops import (
    GitCommandFailed,
    GitOpsError,
    GitPolicy,
    Identity,
    clone,
    commit_all,
    commit_files,
    git_env,
    head_sha,
    push_branch,
    remote_head,
    safe_write,
    tracked_symlinks,
    validate_base_branch,
    validate_branch_name,
)
from tests.provisioning.git_ops.git_helpers import (
    BRANCH,
    DATE,
    PUBLIC,
    make_remote,
    ref_sha,
    run_git,
)

SECRET = "canary-worker-secret-5d2e8a"
FAST = "bmadweb/demo/run-2"


@pytest.fixture
def policy(tmp_path: Path) -> GitPolicy:
    return GitPolicy(allow_local=True, timeout_s=20, temp_base=tmp_path / "work")


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    files = {"README.md": "hello\n", ".gitignore": "*.log\n", ".gitattributes": "*.md text\n"}
    return make_remote(tmp_path / "remotes", files)


@pytest.fixture
def canaries(tmp_path: Path) -> Path:
    folder = tmp_path / "canaries"
    folder.mkdir()
    return folder


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _round_trip(remote: Path, dest: Path, policy: GitPolicy) -> str:
    """Every kind of git step the door runs: validate, clone, write, commit, push, read."""
    validate_branch_name(BRANCH, policy=policy)
    cloned = clone(str(remote), dest, branch="main", policy=policy)
    safe_write(cloned.path, "new.md", "new\n", policy=policy)
    commit_all(cloned, branch=BRANCH, message="m", run_id="r", author_name="a",
               author_email="a@example.org", date=DATE, policy=policy)  # fmt: skip
    push_branch(cloned, str(remote), BRANCH, credentials=None, policy=policy)
    assert remote_head(str(remote), BRANCH, policy=policy) == head_sha(cloned, policy=policy)
    # The run's own way: the plan's files straight into objects, pushed by commit id.
    again = clone(str(remote), dest.parent / f"{dest.name}-fast", branch="main", policy=policy)
    sha = commit_files(again, {"fast.md": "fast\n", "debug.log": "ignored\n"}, branch=FAST,
                       message="m", run_id="r", author_name="a", author_email="a@example.org",
                       date=DATE, policy=policy)  # fmt: skip
    push_branch(again, str(remote), FAST, credentials=None, policy=policy, sha=sha)
    assert remote_head(str(remote), FAST, policy=policy) == sha
    return head_sha(cloned, policy=policy)


# --------------------------------------------------------------------------- transport


class Recorder:
    """Stands in for the Popen GitPython starts its children with."""

    def __init__(self) -> None:
        self.real = git.cmd.safer_popen
        self.calls: list[tuple[list[str], dict[str, object]]] = []

    def __call__(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        self.calls.append((list(argv), kwargs))
        return self.real(argv, **kwargs)  # type: ignore[no-any-return]


def test_every_git_step_is_started_by_gitpython(
    tmp_path: Path, remote: Path, policy: GitPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()

    def no_direct_popen(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the git door started a process without GitPython")

    with monkeypatch.context() as patch:
        patch.setattr(git.cmd, "safer_popen", recorder)
        patch.setattr(subprocess, "Popen", no_direct_popen)
        sha = _round_trip(remote, tmp_path / "c", policy)
        links = tracked_symlinks(tmp_path / "c", policy)
    assert (ref_sha(remote, BRANCH), links) == (sha, frozenset())
    steps = set()
    for argv, kwargs in recorder.calls:
        env_end = argv.index("--")
        assert argv[0].endswith("env")
        assert all(argv[i] == "-u" for i in range(1, env_end, 2))
        assert argv[env_end + 1 : env_end + 3] == ["git", "-C"]
        steps.add(argv[env_end + 4])
        assert kwargs["start_new_session"] is True
        assert kwargs["shell"] is False
    assert steps >= {"check-ref-format", "clone", "ls-tree", "checkout", "rev-parse",
                     "ls-files", "add", "diff", "commit", "ls-remote", "push",
                     "check-attr", "check-ignore", "fast-import"}  # fmt: skip


def test_gitpython_trace_shows_each_step(
    tmp_path: Path,
    remote: Path,
    policy: GitPolicy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GitPython's own command trace (GIT_PYTHON_TRACE) sees the door's steps: only a
    process GitPython starts can show up there."""
    monkeypatch.setattr(git.Git, "GIT_PYTHON_TRACE", True)
    with caplog.at_level(logging.INFO, logger="git.cmd"):
        clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    traced = [r.getMessage() for r in caplog.records if r.name == "git.cmd"]
    assert any(" clone --quiet --no-checkout " in line for line in traced), traced
    assert any(" checkout --quiet --force " in line for line in traced), traced


def test_a_missing_git_binary_is_reported_as_not_started(tmp_path: Path) -> None:
    policy = GitPolicy(git_binary=str(tmp_path / "no-git"), temp_base=tmp_path / "work")
    with pytest.raises(GitOpsError, match="could not start") as caught:
        validate_base_branch("main", policy=policy)
    assert not isinstance(caught.value, GitCommandFailed)


def test_a_missing_folder_is_an_error_not_the_workers_own_repository(
    tmp_path: Path, remote: Path, policy: GitPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Git.execute quietly runs in the worker's current folder when its working folder
    is not accessible; the door's ``git -C <folder>`` makes git refuse instead."""
    monkeypatch.chdir(tmp_path / "remotes" / "remote.git-src")  # a repository of its own
    with pytest.raises(GitCommandFailed, match="cannot change to"):
        head_sha(tmp_path / "missing", policy=policy)


@pytest.mark.parametrize("binary", ["", "-git", "A=b", "/opt/x=y/git"])
def test_git_binary_settings_env_would_misread_are_refused(binary: str) -> None:
    with pytest.raises(ValueError, match="git_binary"):
        GitPolicy(git_binary=binary)


# --------------------------------------------------------------------------- environment


def test_git_runs_with_exactly_git_env_whatever_the_worker_carries(
    tmp_path: Path, remote: Path, policy: GitPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumps, argvs = tmp_path / "dumps", tmp_path / "argvs"
    dumps.mkdir()
    argvs.mkdir()
    # A git that writes down its environment, then runs the real one.
    fake_git = _script(
        tmp_path / "fake-git",
        f'env > "{dumps}/$$"\nprintf "%s" "$*" > "{argvs}/$$"\nexec git "$@"\n',
    )
    for name, value in {
        "GIT_DIR": "/nowhere",
        "GIT_CONFIG_PARAMETERS": "'core.hooksPath'='/nowhere'",
        "GIT_SSH_COMMAND": "/nowhere/ssh",
        "GIT_TRACE": "/nowhere/trace",
        "LD_PRELOAD": "/nowhere/lib.so",
        "DATABASE_URL": f"postgres://bmadweb:{SECRET}@db/bmadweb",
        "LANGUAGE": "de",
    }.items():
        monkeypatch.setenv(name, value)
    fake = GitPolicy(allow_local=True, git_binary=str(fake_git), temp_base=policy.temp_base)
    _round_trip(remote, tmp_path / "c", fake)
    # What git_env builds, plus the session's ssh command (and, for the commit, the
    # identity); the shell adds PWD and the like.
    expected = set(git_env(home=tmp_path, policy=fake)) | {"GIT_SSH_COMMAND"}
    identity = git_env(home=tmp_path, policy=fake, identity=Identity("a", "a@x"), date=DATE)
    committing = expected | set(identity)
    seen = list(dumps.iterdir())
    assert len(seen) >= 10
    for dump in seen:
        text = dump.read_text()
        names = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line}
        # A push to a local remote starts the remote's receive-pack through the same git
        # binary (hooks off, docs/security.md#s5): git's own child, in the environment git
        # prepares for it from ours; the checks below hold for it too.
        if "receive-pack" not in (argvs / dump.name).read_text():
            assert names - {"PWD", "SHLVL", "_", "OLDPWD"} in (expected, committing)
        assert SECRET not in text
        assert "/nowhere" not in text
        assert "LANGUAGE=C\n" in text


def test_stray_git_variables_of_the_worker_do_not_reach_git(
    tmp_path: Path,
    remote: Path,
    policy: GitPolicy,
    canaries: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's environment points git at another repository, another index and
    object store, a hooks folder (through GIT_CONFIG_PARAMETERS, which outranks the
    repository's config), a trace file and hostile ssh and askpass programs, each of
    which touches a canary or the decoy when used. None is."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "commit-msg", "post-commit", "post-checkout", "pre-push",
                 "reference-transaction"):  # fmt: skip
        _script(hooks / hook, f"touch {canaries}/{hook}\n")
    evil = _script(tmp_path / "evil", f"touch {canaries}/evil\nexit 1\n")
    decoy = make_remote(tmp_path / "decoy", {"decoy.txt": "decoy\n"})
    decoy_work = tmp_path / "decoy" / "remote.git-src"
    decoy_head = ref_sha(decoy, "main")
    decoy_index = (decoy_work / ".git" / "index").read_bytes()
    stray_objects = tmp_path / "stray-objects"  # git checks that it exists
    stray_objects.mkdir()
    strays = {
        "GIT_DIR": str(decoy_work / ".git"),
        "GIT_WORK_TREE": str(decoy_work),
        "GIT_INDEX_FILE": str(canaries / "index"),
        "GIT_OBJECT_DIRECTORY": str(stray_objects),
        "GIT_CONFIG_PARAMETERS": f"'core.hooksPath'='{hooks}'",
        "GIT_TRACE": str(canaries / "trace"),
        "GIT_SSH_COMMAND": str(evil),
        "GIT_SSH": str(evil),
        "GIT_ASKPASS": str(evil),
        "SSH_ASKPASS": str(evil),
        "GIT_TERMINAL_PROMPT": "1",
    }
    for name, value in strays.items():
        monkeypatch.setenv(name, value)
    # Control: stock git in the worker's environment follows every one of them.
    asked = subprocess.run(
        ["git", "rev-parse", "--absolute-git-dir", "--git-path", "index", "--git-path",
         "objects"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert asked.stdout.split() == [strays["GIT_DIR"], strays["GIT_INDEX_FILE"],
                                    strays["GIT_OBJECT_DIRECTORY"]]  # fmt: skip
    hooks_path = subprocess.run(["git", "config", "core.hooksPath"], cwd=tmp_path,
                                capture_output=True, text=True, check=True)  # fmt: skip
    assert hooks_path.stdout.strip() == str(hooks)
    assert (canaries / "trace").exists()
    (canaries / "trace").unlink()

    sha = _round_trip(remote, tmp_path / "c", policy)
    assert ref_sha(remote, BRANCH) == sha
    assert list(canaries.iterdir()) == list(stray_objects.iterdir()) == []
    assert run_git(decoy_work, "rev-parse", "HEAD") == decoy_head
    assert (decoy_work / ".git" / "index").read_bytes() == decoy_index
    assert run_git(decoy_work, "status", "--porcelain") == ""


def test_the_worker_ssh_command_is_never_used_for_ssh_remotes(
    tmp_path: Path, canaries: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen"
    ssh = _script(tmp_path / "fake-ssh", f'echo "$@" > {seen}\nexit 255\n')
    evil = _script(tmp_path / "evil", f"touch {canaries}/evil\nexit 255\n")
    for name in ("GIT_SSH_COMMAND", "GIT_SSH"):
        monkeypatch.setenv(name, str(evil))
    monkeypatch.setenv("GIT_SSH_VARIANT", "simple")
    policy = GitPolicy(
        ssh_program=str(ssh), temp_base=tmp_path / "work", resolve=lambda _host: [PUBLIC]
    )
    with pytest.raises(GitCommandFailed):
        remote_head("git@git.example.org:org/x.git", "main", policy=policy)
    assert list(canaries.iterdir()) == []
    assert "BatchMode=yes" in seen.read_text()
    assert f"HostName={PUBLIC}" in seen.read_text()
    assert os.environ["GIT_SSH_COMMAND"] == str(evil)  # the worker's own copy is untouched
