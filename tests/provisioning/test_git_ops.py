"""The hardened git layer against real repositories: a bare "remote" and clones under
tmp_path, hostile fixtures whose hooks, filters and submodules would touch canary files,
injection strings through every input, symlink tricks, a huge blob, a hanging ssh and a
canary token (docs/security.md#s1 to #s8, #s15, #s17). Nothing here touches the network."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from provisioning.engine.plan import Operation, OpKind, Plan, apply_plan
from provisioning.git_ops import (
    ClonedRepo,
    Credentials,
    GitCommandFailed,
    GitDiverged,
    GitLimitExceeded,
    GitOpsError,
    GitPolicy,
    GitTimeout,
    Identity,
    InvalidInput,
    NothingToCommit,
    UnsafePath,
    clone,
    commit_all,
    git_env,
    head_sha,
    process,
    push_branch,
    push_default,
    remote_head,
    safe_delete,
    safe_write,
    scrub,
    temp_workdir,
    tracked_symlinks,
    validate_base_branch,
    validate_branch_name,
)
from provisioning.git_ops.urlpolicy import UrlPolicyError

BRANCH = "bmadweb/demo/run-1"
DATE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "canary-token-7f3a9c1e5b"
PUBLIC = "140.82.112.3"


# --------------------------------------------------------------------------- helpers


def _plain_env(home: Path) -> dict[str, str]:
    """The tests' own git runs: deterministic and blind to any hostile configuration."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_AUTHOR_NAME": "Fixture",
        "GIT_AUTHOR_EMAIL": "fixture@example.org",
        "GIT_COMMITTER_NAME": "Fixture",
        "GIT_COMMITTER_EMAIL": "fixture@example.org",
    }


def run_git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=env or _plain_env(cwd),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_remote(root: Path, files: dict[str, str | bytes], *, name: str = "remote.git") -> Path:
    """A bare repository whose main branch holds ``files`` in one commit."""
    src = root / f"{name}-src"
    src.mkdir(parents=True)
    run_git(src, "init", "-q", "-b", "main")
    for rel, content in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
    run_git(src, "add", "-A")
    run_git(src, "commit", "-q", "-m", "initial")
    bare = root / name
    run_git(root, "clone", "-q", "--bare", str(src), str(bare))
    return bare


def commit_count(bare: Path, ref: str) -> int:
    return int(run_git(bare, "rev-list", "--count", ref))


def ref_sha(bare: Path, ref: str) -> str:
    return run_git(bare, "rev-parse", ref)


@pytest.fixture
def policy(tmp_path: Path) -> GitPolicy:
    return GitPolicy(
        allow_local=True,
        max_repo_bytes=5 * 1024 * 1024,
        timeout_s=20,
        temp_base=tmp_path / "work",
    )


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path / "remotes", {"README.md": "hello\n", "docs/a.txt": "a\n"})


def commit(cloned: ClonedRepo, policy: GitPolicy, **fields: Any) -> str:
    """commit_all with plain test values for every field not given."""
    values: dict[str, Any] = {
        "branch": BRANCH,
        "message": "m",
        "run_id": "r",
        "author_name": "a",
        "author_email": "a@example.org",
        "date": DATE,
    }
    return commit_all(cloned, **(values | fields), policy=policy)


def clone_and_commit(
    remote: Path, dest: Path, policy: GitPolicy, *, message: str = "Provision BMAD"
) -> ClonedRepo:
    cloned = clone(str(remote), dest, branch="main", policy=policy)
    safe_write(cloned.path, "_bmad/custom/bmadweb.lock", "lock\n", policy=policy)
    commit(
        cloned,
        policy,
        message=message,
        run_id="run-1",
        author_name="bmadweb",
        author_email="bmadweb@example.org",
    )
    return cloned


# --------------------------------------------------------------------------- round trip


def test_clone_commit_push_lands_exactly_one_commit(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    main_sha = ref_sha(remote, "main")
    cloned = clone_and_commit(remote, tmp_path / "c1", policy)
    assert cloned.head_sha == main_sha
    result = push_branch(
        cloned, str(remote), BRANCH, expected_remote_sha=None, credentials=None, policy=policy
    )
    assert (result.status, result.message, result.branch) == ("pushed", "pushed", BRANCH)
    assert ref_sha(remote, BRANCH) == result.sha == head_sha(cloned)
    assert commit_count(remote, BRANCH) == commit_count(remote, "main") + 1
    assert run_git(remote, "rev-parse", f"{BRANCH}^") == main_sha
    show = run_git(remote, "show", "-s", "--format=%an <%ae>|%ad|%cd|%B", "--date=raw", BRANCH)
    stamp = f"{int(DATE.timestamp())} +0000"
    assert show.startswith(f"bmadweb <bmadweb@example.org>|{stamp}|{stamp}|Provision BMAD")
    assert show.endswith("Bmadweb-Run: run-1")
    assert run_git(remote, "show", f"{BRANCH}:_bmad/custom/bmadweb.lock") == "lock"
    assert list(policy.temp_base.iterdir()) == []  # type: ignore[union-attr]


def test_second_push_and_a_retried_run_say_already_pushed(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    cloned = clone_and_commit(remote, tmp_path / "c1", policy)
    first = push_branch(cloned, str(remote), BRANCH, credentials=None, policy=policy)
    again = push_branch(cloned, str(remote), BRANCH, credentials=None, policy=policy)
    assert (again.status, again.message, again.sha) == (
        "already_pushed",
        "already pushed",
        first.sha,
    )
    # A retried run works in a fresh clone; the commit is deterministic, so same id.
    retried = clone_and_commit(remote, tmp_path / "c2", policy)
    assert head_sha(retried) == first.sha
    third = push_branch(retried, str(remote), BRANCH, credentials=None, policy=policy)
    assert third.status == "already_pushed"
    assert commit_count(remote, BRANCH) == commit_count(remote, "main") + 1


def test_a_different_commit_on_the_branch_is_diverged_and_left_alone(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    other = clone_and_commit(remote, tmp_path / "other", policy, message="Someone else")
    push_branch(other, str(remote), BRANCH, credentials=None, policy=policy)
    theirs = ref_sha(remote, BRANCH)
    ours = clone_and_commit(remote, tmp_path / "ours", policy)
    with pytest.raises(GitDiverged, match="diverged"):
        push_branch(ours, str(remote), BRANCH, credentials=None, policy=policy)
    assert ref_sha(remote, BRANCH) == theirs


def test_direct_push_fast_forwards_main_only_from_the_expected_commit(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    base = ref_sha(remote, "main")
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    safe_write(cloned.path, "new.txt", "x\n", policy=policy)
    sha = commit(
        cloned,
        policy,
        branch=None,
        message="Direct",
        run_id="run-2",
        author_name="bmadweb",
        author_email="b@example.org",
    )
    with pytest.raises(GitDiverged):
        push_default(
            cloned,
            str(remote),
            "main",
            expected_remote_sha="0" * 40,
            credentials=None,
            policy=policy,
        )
    result = push_default(
        cloned, str(remote), "main", expected_remote_sha=base, credentials=None, policy=policy
    )
    assert (result.status, ref_sha(remote, "main")) == ("pushed", sha)
    again = push_default(
        cloned, str(remote), "main", expected_remote_sha=base, credentials=None, policy=policy
    )
    assert again.status == "already_pushed"


def test_remote_head_reads_one_exact_branch(remote: Path, policy: GitPolicy) -> None:
    assert remote_head(str(remote), "main", policy=policy) == ref_sha(remote, "main")
    assert remote_head(str(remote), "missing", policy=policy) is None


def test_commit_without_changes_says_so(tmp_path: Path, remote: Path, policy: GitPolicy) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    with pytest.raises(NothingToCommit):
        commit(cloned, policy)


def test_commit_dates_keep_their_offset_and_must_be_aware(
    tmp_path: Path, remote: Path, policy: GitPolicy
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    safe_write(cloned.path, "x", "x", policy=policy)
    with pytest.raises(InvalidInput, match="timezone"):
        commit(cloned, policy, date=datetime(2025, 1, 1))
    commit(cloned, policy, date=datetime(2025, 1, 1, 10, tzinfo=timezone(timedelta(hours=1))))
    assert run_git(cloned.path, "show", "-s", "--format=%ad", "--date=raw") == "1735722000 +0100"


# --------------------------------------------------------------------------- branch names


@pytest.mark.parametrize("name", [BRANCH, "bmadweb/p/1", "bmadweb/a-b-c/0123-abcd"])
def test_generated_branch_names_pass(name: str) -> None:
    assert validate_branch_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "--output=/tmp/x",
        "a..b",
        "x.lock",
        "refs/../x",
        "bmadweb/p/x.lock",
        "bmadweb/p/a..b",
        "bmadweb/../x",
        "bmadweb/P/x",
        "bmadweb/p/",
        "bmadweb/-p/x",
        "bmadweb/p/x/y",
        "bmadweb/p/x\n",
        "main",
        "",
    ],
)
def test_bad_branch_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_branch_name(name)


@pytest.mark.parametrize(
    "name", ["--output=/tmp/x", "-uX", "a..b", "x.lock", "refs/../x", "a b", "a@{1}", "a//b", "/a"]
)
def test_bad_base_branch_names_are_rejected_by_pattern_or_by_git(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_base_branch(name)


def test_base_branch_names_git_accepts_pass() -> None:
    for name in ("main", "master", "release/1.0", "feature_x"):
        assert validate_base_branch(name) == name


# --------------------------------------------------------------------------- injection


@pytest.fixture
def armed(tmp_path: Path) -> dict[str, Path]:
    """A script, a hooks folder and a template that each touch a canary if ever run."""
    canaries = tmp_path / "canaries"
    canaries.mkdir()
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {canaries}/script\nexit 1\n")
    script.chmod(0o755)
    hooks = tmp_path / "evil-hooks"
    hooks.mkdir()
    for hook in (
        "post-checkout",
        "pre-commit",
        "commit-msg",
        "prepare-commit-msg",
        "post-commit",
        "pre-push",
        "reference-transaction",
        "pre-receive",
        "post-receive",
        "update",
        "post-update",
        "fsmonitor-watchman",
    ):
        path = hooks / hook
        path.write_text(f"#!/bin/sh\ntouch {canaries}/{hook}\n")
        path.chmod(0o755)
    template = tmp_path / "evil-template"
    (template / "hooks").mkdir(parents=True)
    for hook in hooks.iterdir():
        (template / "hooks" / hook.name).write_bytes(hook.read_bytes())
        (template / "hooks" / hook.name).chmod(0o755)
    return {"canaries": canaries, "script": script, "hooks": hooks, "template": template}


def injections(armed: dict[str, Path], tmp_path: Path) -> list[str]:
    return [
        f"-u{armed['script']}",
        f"--upl={armed['script']}",
        f"--upload-pack={armed['script']}",
        f"--config core.hooksPath={armed['hooks']}",
        f"--config=core.hooksPath={armed['hooks']}",
        f"--template={armed['template']}",
        f"--output={tmp_path / 'canaries' / 'output'}",
    ]


def assert_no_canary(armed: dict[str, Path]) -> None:
    assert sorted(p.name for p in armed["canaries"].iterdir()) == []


def test_injection_strings_as_urls_are_rejected(
    tmp_path: Path, armed: dict[str, Path], policy: GitPolicy
) -> None:
    for text in injections(armed, tmp_path):
        with pytest.raises(UrlPolicyError):
            clone(text, tmp_path / "c", branch="main", policy=policy)
        with pytest.raises(UrlPolicyError):
            remote_head(text, "main", policy=policy)
    assert_no_canary(armed)
    assert not (tmp_path / "c").exists()


def test_injection_strings_as_branches_are_rejected(
    tmp_path: Path, remote: Path, armed: dict[str, Path], policy: GitPolicy
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    safe_write(cloned.path, "x", "x", policy=policy)
    for text in injections(armed, tmp_path):
        with pytest.raises(InvalidInput):
            clone(str(remote), tmp_path / "c2", branch=text, policy=policy)
        with pytest.raises(InvalidInput):
            commit(cloned, policy, branch=text)
        with pytest.raises(InvalidInput):
            push_branch(cloned, str(remote), text, credentials=None, policy=policy)
        with pytest.raises(InvalidInput):
            push_default(
                cloned,
                str(remote),
                text,
                expected_remote_sha="0" * 40,
                credentials=None,
                policy=policy,
            )
        with pytest.raises(InvalidInput):
            commit(cloned, policy, run_id=text)
    assert_no_canary(armed)
    assert run_git(remote, "for-each-ref", "--format=%(refname)") == "refs/heads/main"


def test_injection_strings_as_identity_message_and_paths_are_plain_data(
    tmp_path: Path, remote: Path, armed: dict[str, Path], policy: GitPolicy
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    texts = injections(armed, tmp_path)
    for number, text in enumerate(texts):
        rel = text.lstrip("/")
        written = safe_write(cloned.path, rel, text, policy=policy)
        assert written.is_relative_to(cloned.path)
        commit(
            cloned,
            policy,
            branch=f"bmadweb/demo/run-{number}",
            message=text,
            run_id=f"run-{number}",
            author_name=text,
            author_email=text,
        )
        author = run_git(cloned.path, "show", "-s", "--format=%an|%ae|%s")
        assert author == f"{text}|{text}|{text}"
        assert run_git(cloned.path, "show", f"HEAD:{rel}") == text
    assert_no_canary(armed)
    assert not (tmp_path / "canaries" / "output").exists()


@pytest.mark.parametrize(
    "name", ["evil\n[core]\n\thooksPath = /x", "a\rb", "a\x00b", "a <b@c>", "x>y", " ", ""]
)
def test_identity_with_newlines_or_brackets_is_refused_and_config_unchanged(
    tmp_path: Path, remote: Path, policy: GitPolicy, name: str
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    config = (cloned.path / ".git" / "config").read_bytes()
    safe_write(cloned.path, "x", "x", policy=policy)
    for author_name, author_email in ((name, "a@example.org"), ("a", name)):
        with pytest.raises(InvalidInput):
            commit(cloned, policy, author_name=author_name, author_email=author_email)
    assert (cloned.path / ".git" / "config").read_bytes() == config
    assert head_sha(cloned) == cloned.head_sha
    with pytest.raises(InvalidInput):
        Identity(name, "a@example.org")


# --------------------------------------------------------------------------- hostile repos


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
    identity = {k: v for k, v in _plain_env(tmp_path).items() if k.endswith(("_NAME", "_EMAIL"))}
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


# --------------------------------------------------------------------------- symlinks, paths


@pytest.fixture
def outside(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "outside"
    folder.mkdir()
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0\n")
    return {"folder": folder, "passwd": passwd}


def assert_outside_untouched(outside: dict[str, Path]) -> None:
    assert list(outside["folder"].iterdir()) == []
    assert outside["passwd"].read_text() == "root:x:0:0\n"


def test_symlinks_in_a_cloned_repo_make_writes_unsafe(
    tmp_path: Path, outside: dict[str, Path], policy: GitPolicy
) -> None:
    src = tmp_path / "remotes" / "links-src"
    bare = make_remote(tmp_path / "remotes", {"README.md": "x\n"}, name="links")
    work = tmp_path / "remotes" / "links-src"
    (src / ".claude").mkdir()
    (src / ".claude" / "skills").symlink_to(outside["folder"])
    (src / "SKILL.md").symlink_to(outside["passwd"])
    run_git(work, "add", "-A")
    run_git(work, "commit", "-q", "-m", "links")
    run_git(work, "push", "-q", str(bare), "main")
    cloned = clone(str(bare), tmp_path / "c", branch="main", policy=policy)
    # core.symlinks=false: git writes the link text into plain files, never a link.
    assert not (cloned.path / "SKILL.md").is_symlink()
    for rel in (".claude/skills/x/SKILL.md", ".claude/skills", "SKILL.md"):
        with pytest.raises(UnsafePath, match="unsafe path"):
            safe_write(cloned.path, rel, "pwned", policy=policy)
    with pytest.raises(UnsafePath):
        safe_delete(cloned.path, "SKILL.md", policy=policy)
    # The engine's plan writer refuses them too once told which paths git records as links.
    links = tracked_symlinks(cloned, policy)
    assert links == {".claude/skills", "SKILL.md"}
    link_text = (cloned.path / "SKILL.md").read_text()
    update = Plan((Operation(OpKind.UPDATE, "SKILL.md", "r", "pwned\n"),))
    with pytest.raises(UnsafePath, match="is a symlink in the repository"):
        apply_plan(cloned.path, update, tracked_symlinks=links)
    assert (cloned.path / "SKILL.md").read_text() == link_text
    assert_outside_untouched(outside)


@pytest.fixture
def tree(tmp_path: Path, outside: dict[str, Path]) -> Path:
    """A work tree with real symlinks, as another tool might have left it."""
    root = tmp_path / "tree"
    (root / ".claude").mkdir(parents=True)
    (root / ".claude" / "skills").symlink_to(outside["folder"])
    (root / "SKILL.md").symlink_to(outside["passwd"])
    (root / "inside.txt").write_text("inside\n")
    (root / "alias").symlink_to(root / "inside.txt")
    (root / "dirlink").symlink_to(root / ".claude")
    os.link(outside["passwd"], root / "hardlink")
    os.mkfifo(root / "fifo")
    return root


@pytest.mark.parametrize(
    "rel",
    [
        ".claude/skills/x/SKILL.md",
        ".claude/skills/SKILL.md",
        "SKILL.md",
        "alias",
        "dirlink/x",
        "hardlink",
        "fifo",
        ".git/hooks/post-checkout",
        ".GIT/config",
        "a/.Git./x",
        "git~1/config",
        "../outside/x",
        "a/../../x",
        "/etc/passwd",
        "a//b",
        "./a",
        "a\\b",
        "a\x00b",
        "",
    ],
)
def test_unsafe_relative_paths_are_refused(tree: Path, outside: dict[str, Path], rel: str) -> None:
    with pytest.raises(UnsafePath, match="unsafe path"):
        safe_write(tree, rel, "pwned")
    assert_outside_untouched(outside)
    assert not (tree / ".git").exists()


@pytest.mark.parametrize("rel", ["SKILL.md", "alias", "dirlink/skills", ".git/x", "fifo"])
def test_unsafe_deletes_are_refused(tree: Path, outside: dict[str, Path], rel: str) -> None:
    with pytest.raises(UnsafePath):
        safe_delete(tree, rel)
    assert_outside_untouched(outside)


def test_safe_write_and_delete_do_their_job(tree: Path) -> None:
    path = safe_write(tree, "_bmad/custom/a/b.md", "one\n")
    assert path == tree / "_bmad" / "custom" / "a" / "b.md"
    safe_write(tree, "_bmad/custom/a/b.md", b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) & 0o022 == 0
    assert safe_delete(tree, "_bmad/custom/a/b.md") is True
    assert safe_delete(tree, "_bmad/custom/a/b.md") is False
    assert safe_delete(tree, "missing/dir/file") is False
    assert (tree / "inside.txt").read_text() == "inside\n"


# --------------------------------------------------------------------------- budgets


@pytest.fixture(scope="module")
def huge_remote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("huge")
    return make_remote(root, {"blob.bin": os.urandom(30 * 1024 * 1024), "small": "x"})


@pytest.mark.parametrize("limit_mb", [5, 20])
def test_huge_repo_exceeds_the_limit_and_leaves_nothing(
    tmp_path: Path, huge_remote: Path, limit_mb: int
) -> None:
    """5 MB: the transfer watchdog stops git; 20 MB: the size check before checkout."""
    base = tmp_path / "work"
    policy = GitPolicy(allow_local=True, max_repo_bytes=limit_mb * 1024 * 1024, temp_base=base)
    started = time.monotonic()
    with pytest.raises(GitLimitExceeded, match="limit exceeded"), temp_workdir(base) as work:
        clone(str(huge_remote), work / "repo", branch="main", policy=policy)
    assert time.monotonic() - started < 15
    assert list(base.iterdir()) == []


def test_temp_workdir_is_removed_even_on_errors(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), temp_workdir(tmp_path / "base") as work:  # noqa: PT012
        (work / "ro").mkdir()
        (work / "ro" / "f").write_text("x")
        (work / "ro").chmod(0o500)
        raise RuntimeError("boom")
    assert list((tmp_path / "base").iterdir()) == []


def _fake_ssh(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-ssh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def _is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_timeout_kills_git_and_its_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    ssh = _fake_ssh(tmp_path, f"sleep 60 &\necho $! > {pid_file}\nsleep 60\n")
    policy = GitPolicy(
        timeout_s=1.0,
        ssh_program=str(ssh),
        temp_base=tmp_path / "work",
        resolve=lambda _host: [PUBLIC],
    )
    started = time.monotonic()
    with pytest.raises(GitTimeout, match="longer than 1 s"):
        clone("git@git.example.org:org/x.git", tmp_path / "c", branch="main", policy=policy)
    assert time.monotonic() - started < 5
    assert _is_gone(int(pid_file.read_text()))
    assert not (tmp_path / "c").exists()
    assert list((tmp_path / "work").iterdir()) == []


# --------------------------------------------------------------------------- credentials


class PopenRecorder:
    """Wraps subprocess.Popen to keep every argv and environment git_ops passes."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.real = subprocess.Popen

    def __call__(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        self.calls.append((list(argv), dict(kwargs["env"])))  # type: ignore[call-overload]
        return self.real(argv, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> PopenRecorder:
    rec = PopenRecorder()
    monkeypatch.setattr(process.subprocess, "Popen", rec)
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
    ssh = _fake_ssh(
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
