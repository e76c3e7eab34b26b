"""Credentials and a canary token: an https token reaches git only through the askpass
script, an ssh key only through a private file removed afterwards; neither reaches the
clone's config or an error message. https connections are pinned to the checked
addresses, and every git error shares one base class."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import git
import pytest

from provisioning.git_ops import (
    Credentials,
    GitCommandFailed,
    GitDiverged,
    GitLimitExceeded,
    GitOpsError,
    GitPolicy,
    GitTimeout,
    InvalidInput,
    NothingToCommit,
    UnsafePath,
    clone,
    process,
    push_branch,
    scrub,
)
from tests.provisioning.git_ops.git_helpers import PUBLIC, TOKEN, fake_ssh


class PopenRecorder:
    """Wraps the Popen GitPython starts git with, to keep every argv and environment (the
    door itself starts no process, so what is seen here is everything git gets)."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.kwargs: list[dict[str, object]] = []
        self.real = git.cmd.safer_popen

    def __call__(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        self.calls.append((list(argv), dict(kwargs["env"])))  # type: ignore[call-overload]
        self.kwargs.append(kwargs)
        return self.real(argv, **kwargs)  # type: ignore[no-any-return]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> PopenRecorder:
    rec = PopenRecorder()
    monkeypatch.setattr(git.cmd, "safer_popen", rec)
    return rec


def test_https_token_reaches_git_only_through_askpass(
    tmp_path: Path, recorder: PopenRecorder, policy: GitPolicy
) -> None:
    not_a_repo = tmp_path / "not-a-repo"
    not_a_repo.mkdir()
    credentials = Credentials(https_token=TOKEN)
    with pytest.raises(GitCommandFailed) as caught:
        clone(str(not_a_repo), tmp_path / "c", branch="main", policy=policy,
              credentials=credentials)  # fmt: skip
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert not (tmp_path / "c").exists()
    assert list(policy.temp_base.iterdir()) == []  # type: ignore[union-attr]
    argv, env = recorder.calls[-1]
    assert all(TOKEN not in arg for arg in argv)
    # A local remote gets no credentials at all (its processes are git's own children).
    assert [k for k, v in env.items() if TOKEN in v] == []
    # A remote one gets the token through the askpass environment only.
    https_policy = GitPolicy(temp_base=tmp_path, resolve=lambda _h: [PUBLIC])
    checked = process.check_url("https://github.com/org/x.git", https_policy)
    with process.git_session(https_policy, credentials=credentials, checked=checked) as session:
        assert [k for k, v in session.env.items() if TOKEN in v] == ["BMADWEB_GIT_PASSWORD"]
    assert TOKEN not in repr(credentials)
    assert TOKEN not in str(credentials)


def test_askpass_script_answers_from_its_environment(tmp_path: Path) -> None:
    policy = GitPolicy(temp_base=tmp_path)
    with process.git_session(policy, credentials=Credentials(https_token=TOKEN)) as session:
        script = Path(session.env["GIT_ASKPASS"])
        assert TOKEN not in script.read_text()
        assert stat.S_IMODE(session.home.stat().st_mode) == 0o700
        ask = [str(script), "Password for 'https://x-access-token@github.com': "]
        answer = subprocess.run(ask, env=session.env, capture_output=True, text=True, check=True)
        assert answer.stdout == f"{TOKEN}\n"
        user = subprocess.run(
            [str(script), "Username for 'https://github.com': "],
            env=session.env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert user.stdout == "x-access-token\n"
    assert not script.exists()


def test_ssh_key_goes_through_a_private_file_that_is_removed(
    tmp_path: Path, recorder: PopenRecorder
) -> None:
    key = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAA-canary\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    seen = tmp_path / "seen"
    ssh = fake_ssh(
        tmp_path,
        f'echo "$@" > {seen}/argv\n'
        'while [ $# -gt 0 ]; do [ "$1" = -i ] && KEY="$2"; shift; done\n'
        f'stat -c %a "$KEY" > {seen}/mode\ncat "$KEY" >&2\nexit 255\n',
    )
    seen.mkdir()
    policy = GitPolicy(
        ssh_program=str(ssh), temp_base=tmp_path / "work", resolve=lambda _h: [PUBLIC]
    )
    with pytest.raises(GitCommandFailed) as caught:
        clone("ssh://git@git.example.org/org/x.git", tmp_path / "c", branch="main",
              policy=policy, credentials=Credentials(ssh_private_key=key))  # fmt: skip
    message = str(caught.value)
    assert "b3BlbnNzaC1rZXktdjEAAAAA-canary" not in message
    assert "***" in message
    assert (seen / "mode").read_text().strip() == "600"
    ssh_argv = (seen / "argv").read_text()
    assert "BatchMode=yes" in ssh_argv
    assert "IdentitiesOnly=yes" in ssh_argv
    assert "StrictHostKeyChecking=accept-new" in ssh_argv
    assert f"HostName={PUBLIC}" in ssh_argv
    assert list((tmp_path / "work").iterdir()) == []
    for argv, _env in recorder.calls:
        assert all("canary" not in arg for arg in argv)


def test_credentials_never_reach_the_clone_config(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    credentials = Credentials(https_token=TOKEN, ssh_private_key=f"key-{TOKEN}")
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy,
                   credentials=credentials)  # fmt: skip
    push_branch(cloned, str(remote), "bmadweb/demo/x", credentials=credentials, policy=policy)
    for path in (cloned.path / ".git").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert list(policy.temp_base.iterdir()) == []  # type: ignore[union-attr]


def test_https_connections_are_pinned_to_the_checked_addresses(tmp_path: Path) -> None:
    policy = GitPolicy(temp_base=tmp_path, resolve=lambda _h: [PUBLIC, "2606:4700::1"])
    checked = process.check_url("https://github.com/org/x.git", policy)
    with process.git_session(policy, checked=checked) as session:
        env = session.env
    config = {
        env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
        for i in range(int(env["GIT_CONFIG_COUNT"]))
    }
    assert config["http.curloptResolve"] == f"github.com:443:{PUBLIC},[2606:4700::1]"
    assert config["http.followRedirects"] == "false"


def test_scrub_hides_secrets_and_url_userinfo() -> None:
    text = f"fatal: https://user:{TOKEN}@host/x failed with {TOKEN}"
    assert scrub(text, [TOKEN, ""]) == "fatal: https://***@host/x failed with ***"


def test_git_errors_share_one_base_class_and_input_errors_are_value_errors() -> None:
    for error in (GitCommandFailed, GitTimeout, GitLimitExceeded, GitDiverged,
                  InvalidInput, NothingToCommit):  # fmt: skip
        assert issubclass(error, GitOpsError)
    assert issubclass(InvalidInput, ValueError)
    assert issubclass(UnsafePath, ValueError)
