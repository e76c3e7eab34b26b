"""A hostile remote (a filter attribute, an .lfsconfig, a submodule) cloned by a worker
whose own environment and global config would run hooks, filters, fsmonitor and
templates: plain git touches the canaries (the control), bmadweb's git touches none. Git's
environment is built from scratch, and git itself refuses file:// without allow_local."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provisioning.git_ops import GitPolicy, Identity, clone, git_env, push_branch, safe_write
from provisioning.git_ops.urlpolicy import UrlPolicyError
from tests.provisioning.git_ops.git_helpers import (
    BRANCH,
    DATE,
    assert_no_canary,
    commit,
    commit_count,
    make_remote,
    plain_env,
    ref_sha,
    run_git,
)


@pytest.fixture
def hostile(tmp_path: Path, armed: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A remote with a filter attribute, an .lfsconfig and a submodule, cloned by a
    worker whose own environment and global config would run hooks, filters,
    fsmonitor and templates - all of which touch a canary."""
    canaries = armed["canaries"]
    sub = make_remote(tmp_path / "remotes", {"sub-file": "from the submodule\n"}, name="sub.git")
    bare = make_remote(
        tmp_path / "remotes",
        {
            ".gitattributes": "* filter=evil\n",
            ".lfsconfig": f"[lfs]\n\turl = file://{canaries}/lfs\n",
            ".gitmodules": f'[submodule "sub"]\n\tpath = sub\n\turl = {sub}\n',
            "README.md": "hostile\n",
        },
    )
    work = tmp_path / "remotes" / "remote.git-src"
    run_git(work, "update-index", "--add", "--cacheinfo", f"160000,{ref_sha(sub, 'main')},sub")
    run_git(work, "commit", "-q", "-m", "add submodule")
    run_git(work, "push", "-q", str(bare), "main")
    # Hooks inside the bare remote are left out on purpose: they are the server's own and
    # run on the server (for a local remote git even strips our GIT_CONFIG_* before
    # starting receive-pack), so they are not bmadweb's to disable.
    home = tmp_path / "worker-home"
    home.mkdir()
    # Values in quotes: an unquoted ';' would start a comment in git's config syntax.
    (home / ".gitconfig").write_text(
        f'[filter "evil"]\n\tsmudge = "touch {canaries}/smudge; cat"\n'
        f'\tclean = "touch {canaries}/clean; cat"\n\trequired = true\n'
        f"[core]\n\thooksPath = {armed['hooks']}\n"
        f"\tfsmonitor = {armed['hooks']}/fsmonitor-watchman\n"
        f"[init]\n\ttemplateDir = {armed['template']}\n"
        '[submodule]\n\trecurse = true\n[protocol "file"]\n\tallow = always\n'
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(armed["template"]))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'core.hooksPath'='{armed['hooks']}'")
    monkeypatch.setenv("GIT_SSH_COMMAND", str(armed["script"]))
    monkeypatch.setenv("GIT_ASKPASS", str(armed["script"]))
    return bare


def test_hostile_fixture_is_armed_for_plain_git(
    tmp_path: Path, hostile: Path, armed: dict[str, Path]
) -> None:
    """Control: the same clone and commit with stock git, in the worker's environment,
    does touch the canaries - so their absence below means something."""
    identity = {k: v for k, v in plain_env(tmp_path).items() if k.endswith(("_NAME", "_EMAIL"))}
    env = {**os.environ, **identity}
    plain = tmp_path / "plain"
    subprocess.run(["git", "clone", "-q", "-n", str(hostile), str(plain)], env=env, check=True)
    # The same two steps as git_ops.clone: fetch, then check out (which recurses here).
    subprocess.run(["git", "checkout", "-q", "-f", "HEAD"], cwd=plain, env=env, check=True)
    (tmp_path / "plain" / "new").write_text("x")
    subprocess.run(["git", "add", "-A"], cwd=tmp_path / "plain", env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "x"], cwd=tmp_path / "plain", env=env, check=True)
    touched = {p.name for p in armed["canaries"].iterdir()}
    assert {"post-checkout", "smudge", "pre-commit", "fsmonitor-watchman"} <= touched, touched
    # The submodule is real: a recursive clone (the CVE-2024-32002 path) fetches it.
    recursive = tmp_path / "recursive"
    subprocess.run(
        ["git", "clone", "-q", "--recurse-submodules", str(hostile), str(recursive)],
        env=env,
        check=True,
    )
    assert (recursive / "sub" / "sub-file").exists()


def test_hostile_repo_clone_commit_push_runs_nothing(
    tmp_path: Path, hostile: Path, armed: dict[str, Path], policy: GitPolicy
) -> None:
    cloned = clone(str(hostile), tmp_path / "c", branch="main", policy=policy)
    assert list((cloned.path / "sub").iterdir()) == []
    assert (cloned.path / "README.md").read_text() == "hostile\n"
    safe_write(cloned.path, "new.md", "new\n", policy=policy)
    commit(cloned, policy)
    push_branch(cloned, str(hostile), BRANCH, credentials=None, policy=policy)
    assert commit_count(hostile, BRANCH) == commit_count(hostile, "main") + 1
    assert_no_canary(armed)
    assert not (cloned.path / ".git" / "hooks").exists()


def test_environment_is_built_from_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/somewhere")
    monkeypatch.setenv("GIT_SSH_COMMAND", "evil")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/agent")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.org:3128")
    env = git_env(home=tmp_path, policy=GitPolicy())
    assert env["HTTPS_PROXY"] == "http://proxy.example.org:3128"
    assert not {"GIT_DIR", "GIT_SSH_COMMAND", "SSH_AUTH_SOCK"} & env.keys()
    config = {
        env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
        for i in range(int(env["GIT_CONFIG_COUNT"]))
    }
    assert config["core.hooksPath"] == "/dev/null"
    assert config["core.symlinks"] == config["core.fsmonitor"] == "false"
    assert config["protocol.file.allow"] == "never"
    assert config["submodule.recurse"] == "false"
    assert config["credential.helper"] == ""
    assert env["GIT_ALLOW_PROTOCOL"] == "https:ssh"
    assert (env["GIT_CONFIG_NOSYSTEM"], env["GIT_CONFIG_GLOBAL"]) == ("1", "/dev/null")
    assert (env["HOME"], env["GIT_TERMINAL_PROMPT"], env["GIT_LFS_SKIP_SMUDGE"]) == (
        str(tmp_path), "0", "1",
    )  # fmt: skip
    assert not any("allow_unsafe" in key.lower() for key in [*env, *config])
    local = git_env(home=tmp_path, policy=GitPolicy(allow_local=True))
    assert local["GIT_ALLOW_PROTOCOL"] == "https:ssh:file"
    identity = git_env(home=tmp_path, policy=GitPolicy(), identity=Identity("A", "a@x"), date=DATE)
    assert identity["GIT_COMMITTER_NAME"] == "A"
    assert identity["GIT_AUTHOR_DATE"] == identity["GIT_COMMITTER_DATE"] == "@1740830400 +0000"


def test_file_protocol_is_refused_by_git_itself_without_allow_local(
    remote: Path, tmp_path: Path, policy: GitPolicy
) -> None:
    strict = GitPolicy(allow_local=False, temp_base=policy.temp_base)
    with pytest.raises(UrlPolicyError, match="not allowed"):
        clone(str(remote), tmp_path / "c", branch="main", policy=strict)
    # Even if a local URL slipped past the policy, git's own protocol list stops it.
    env = git_env(home=tmp_path, policy=strict)
    done = subprocess.run(
        ["git", "ls-remote", "--", f"file://{remote}"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "transport 'file' not allowed" in done.stderr
