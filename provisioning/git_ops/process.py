"""How git runs: started by GitPython's ``Git.execute`` (docs/git-door.md) with a clean
environment, isolated config, askpass and ssh plumbing, time and disk budgets, and a kill
that takes the whole process group."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess  # PIPE, TimeoutExpired, the Popen GitPython returns: starts nothing
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bmadweb.logscrub import scrub_values
from provisioning.git_ops.types import (
    Credentials,
    GitCommandFailed,
    GitLimitExceeded,
    GitOpsError,
    GitPolicy,
    GitTimeout,
    Identity,
    InvalidInput,
    StrPath,
)
from provisioning.git_ops.urlpolicy import CheckedUrl, check_repo_url
from provisioning.git_ops.workdir import temp_workdir

if TYPE_CHECKING:
    import git

_MAX_STDERR = 2000


_POLL_S = 0.1


# Runs git with exactly the session's environment (see _exact_env_argv).
_ENV_PROGRAM = shutil.which("env") or "/usr/bin/env"


_URL_USERINFO_RE = re.compile(r"(://)[^/@\s]+@")


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (and any URL user-info) replaced by ``***``, and the
    secrets' echoed spellings (case, URL-encoding, split, base64) by ``[redacted]``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = scrub_values(text, secrets)  # docs/security.md#s8: encoded echoes
    return _URL_USERINFO_RE.sub(r"\1***@", text)


def _isolation_config(policy: GitPolicy) -> list[tuple[str, str]]:
    """Config that outranks anything in the repository's own .git/config."""
    return [
        ("core.hooksPath", "/dev/null"),
        ("core.symlinks", "false"),
        ("core.fsmonitor", "false"),
        ("core.protectNTFS", "true"),
        ("core.protectHFS", "true"),
        ("protocol.file.allow", "always" if policy.allow_local else "never"),
        ("submodule.recurse", "false"),
        ("fetch.recurseSubmodules", "false"),
        ("push.recurseSubmodules", "no"),
        # An empty value clears every helper configured anywhere else.
        ("credential.helper", ""),
        ("http.followRedirects", "false"),
        ("safe.bareRepository", "explicit"),
        # Automatic gc daemonises and would escape the step's process group.
        ("gc.auto", "0"),
        ("maintenance.auto", "false"),
        ("commit.gpgSign", "false"),
        ("tag.gpgSign", "false"),
        ("transfer.credentialsInUrl", "die"),
    ]


# Operator settings a deployment may need (outgoing proxy, private CA bundle); any other
# variable of the worker, GIT_* above all, stays out of git's sight.
_PASSED_THROUGH = (
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


def git_env(
    *,
    home: Path,
    policy: GitPolicy,
    identity: Identity | None = None,
    date: datetime | None = None,
    extra_config: Sequence[tuple[str, str]] = (),
) -> dict[str, str]:
    """A complete environment for a git child, built from scratch (of the worker's own
    environment only ``PATH``, proxy and CA settings pass): isolated config, throw-away
    ``HOME``, limited protocols."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env |= {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C",
        "LC_ALL": "C",
        # GitPython sets this one in every child; naming it here keeps git_env complete.
        "LANGUAGE": "C",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CEILING_DIRECTORIES": str(home.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        # Attributes only from the repository's own .gitattributes (none of the machine's).
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": "https:ssh:file" if policy.allow_local else "https:ssh",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_LITERAL_PATHSPECS": "1",
        "GIT_EDITOR": ":",
        "GIT_PAGER": "cat",
        "GIT_SSH_VARIANT": "ssh",
    }
    config = [*_isolation_config(policy), *extra_config]
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    if identity is not None:
        env.update(_identity_env(identity, date))
    return env


def _identity_env(identity: Identity, date: datetime | None) -> dict[str, str]:
    env = {
        "GIT_AUTHOR_NAME": identity.name,
        "GIT_AUTHOR_EMAIL": identity.email,
        "GIT_COMMITTER_NAME": identity.name,
        "GIT_COMMITTER_EMAIL": identity.email,
    }
    if date is not None:
        if date.tzinfo is None or date.utcoffset() is None:
            raise InvalidInput("commit dates must be timezone-aware")
        stamp = f"@{int(date.timestamp())} {date.strftime('%z')}"
        env["GIT_AUTHOR_DATE"] = stamp
        env["GIT_COMMITTER_DATE"] = stamp
    return env


_ASKPASS_SCRIPT = """#!/bin/sh
# bmadweb askpass: answers git's prompts from the environment, never from argv.
case "$1" in
  Username*) printf '%s\\n' "$BMADWEB_GIT_USERNAME" ;;
  *) printf '%s\\n' "$BMADWEB_GIT_PASSWORD" ;;
esac
"""


@dataclass(frozen=True, slots=True)
class Session:
    policy: GitPolicy
    home: Path
    env: dict[str, str]
    secrets: tuple[str, ...]
    runner: git.Git


@contextlib.contextmanager
def git_session(
    policy: GitPolicy,
    *,
    credentials: Credentials | None = None,
    checked: CheckedUrl | None = None,
    identity: Identity | None = None,
    date: datetime | None = None,
) -> Iterator[Session]:
    """A private 0700 ``HOME`` holding the askpass script and ssh key, removed on exit."""
    if checked is not None and checked.kind == "local":
        credentials = None  # a local remote needs none: nothing to hand to its processes
    with temp_workdir(policy.temp_base, prefix="bmadweb-git-") as home:
        extra = _pin_https_addresses(checked)
        env = git_env(home=home, policy=policy, identity=identity, date=date, extra_config=extra)
        env["GIT_SSH_COMMAND"] = _ssh_command(home, policy, credentials, checked)
        if credentials is not None and credentials.https_token:
            env.update(_askpass_env(home, credentials))
        secrets = credentials.secrets() if credentials else ()
        yield Session(policy=policy, home=home, env=env, secrets=secrets, runner=_runner(home))


def _runner(home: Path) -> git.Git:
    """GitPython's command runner, starting its children in the session's private home.

    Imported here, not at the top: importing GitPython runs ``git version`` (its own
    check, in the importing process's environment), which only processes that run git
    should pay for - the web processes import this package for the URL policy alone."""
    import git

    return git.Git(home)


def load_gitpython() -> None:
    """Import GitPython now, for a worker about to fork its work horses: they inherit it
    instead of each importing it (and running its ``git version``) again
    (docs/performance.md#preloaded-worker)."""
    import git  # noqa: F401


def _pin_https_addresses(checked: CheckedUrl | None) -> list[tuple[str, str]]:
    """Make curl connect to the addresses the policy checked, so a DNS answer that
    changes between the check and the connection (rebinding) cannot reach inside."""
    if checked is None or checked.kind != "https" or not checked.addresses:
        return []
    addresses = ",".join(f"[{a}]" if ":" in a else a for a in checked.addresses)
    return [("http.curloptResolve", f"{checked.host}:443:{addresses}")]


def _askpass_env(home: Path, credentials: Credentials) -> dict[str, str]:
    script = home / "askpass.sh"
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o700)
    with os.fdopen(fd, "w") as handle:
        handle.write(_ASKPASS_SCRIPT)
    return {
        "GIT_ASKPASS": str(script),
        "BMADWEB_GIT_USERNAME": credentials.https_username,
        "BMADWEB_GIT_PASSWORD": credentials.https_token or "",
    }


def _ssh_command(
    home: Path, policy: GitPolicy, credentials: Credentials | None, checked: CheckedUrl | None
) -> str:
    """``GIT_SSH_COMMAND``: no user ssh config, no prompts, a private known_hosts, the
    key from a 0600 file, and the address the policy checked."""
    parts = [
        shlex.quote(policy.ssh_program),
        "-F /dev/null",
        "-o BatchMode=yes",
        "-o StrictHostKeyChecking=accept-new",
        f"-o UserKnownHostsFile={shlex.quote(str(home / 'known_hosts'))}",
        "-o IdentitiesOnly=yes",
        "-o ClearAllForwardings=yes",
        f"-o ConnectTimeout={max(1, min(30, int(policy.timeout_s)))}",
    ]
    if credentials is not None and credentials.ssh_private_key:
        key = home / "id_key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(credentials.ssh_private_key.strip() + "\n")
        parts.append(f"-i {shlex.quote(str(key))}")
    if checked is not None and checked.kind == "ssh" and checked.addresses:
        parts.append(f"-o HostName={shlex.quote(checked.addresses[0])}")
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class DiskBudget:
    path: Path
    max_bytes: int


def run_git(
    session: Session,
    args: Sequence[str],
    *,
    cwd: StrPath,
    step: str,
    stdin: bytes | None = None,
    ok_codes: tuple[int, ...] = (0,),
    budget: DiskBudget | None = None,
    env_update: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """Run one git step through GitPython, in its own process group; return (status, stdout).

    ``Git.execute`` starts the child and hands it back (``as_process``) so that the budget
    loop below, not GitPython, decides when it dies. Everything git sees is fixed here:
    the argv (literal options), the folder (``-C``: the runner starts in the session's
    home, and ``Git.execute`` would quietly use the worker's folder if its own were
    gone), the environment (:func:`_exact_env_argv`; ``env_update`` changes the session's
    values for this step only), and ``shell=False`` whatever ``Git.USE_SHELL`` says."""
    import git

    directory = os.fspath(Path(cwd).absolute())
    env = session.env if env_update is None else {**session.env, **env_update}
    argv = [*_exact_env_argv(env), session.policy.git_binary, "-C", directory, *args]
    try:
        handle = session.runner.execute(
            argv,
            env=env,
            istream=subprocess.PIPE if stdin is not None else None,
            as_process=True,
            shell=False,
            start_new_session=True,  # passed on to Popen: the group _kill_group takes down
        )
    except git.GitCommandNotFound:
        raise GitOpsError(f"git {step} could not start: {_ENV_PROGRAM} is missing") from None
    proc = handle.proc
    if proc is None:
        raise GitOpsError(f"git {step} could not start")
    # ``handle`` stays referenced until the child is reaped: dropping an AutoInterrupt
    # whose process still runs would SIGTERM that one process, not its group.
    out, err = _communicate(proc, session, step=step, stdin=stdin, budget=budget)
    text = err.decode("utf-8", "replace")[-_MAX_STDERR:].strip()
    if proc.returncode in (125, 126, 127) and text.startswith((f"{_ENV_PROGRAM}:", "env:")):
        # env could not run the git binary: git never started.
        raise GitOpsError(f"git {step} could not start: {scrub(text, session.secrets)}")
    if proc.returncode not in ok_codes:
        raise GitCommandFailed(step, proc.returncode, scrub(text, session.secrets))
    return proc.returncode, out.decode("utf-8", "surrogateescape")


def _exact_env_argv(env: Mapping[str, str]) -> list[str]:
    """``env -u NAME ...`` for every variable of the worker that ``env`` does not set.

    ``Git.execute`` starts each child from a copy of ``os.environ`` and can only add to
    it, so a stray ``GIT_DIR``, ``GIT_CONFIG_PARAMETERS`` or ``GIT_SSH_COMMAND`` of the
    worker would reach git. Prefixed to the argv, this makes the environment git runs
    with exactly ``env``: the worker's variables are taken out by name (names only,
    never values, are on the command line), ours win over the copy. An empty name
    (``=value`` from a careless parent) cannot be unset, nor read by anything."""
    argv = [_ENV_PROGRAM]
    for name in sorted(os.environ.keys() - env.keys()):
        if name:
            argv += ["-u", name]
    return [*argv, "--"]


def _communicate(
    proc: subprocess.Popen[bytes],
    session: Session,
    *,
    step: str,
    stdin: bytes | None,
    budget: DiskBudget | None,
) -> tuple[bytes, bytes]:
    deadline = time.monotonic() + session.policy.timeout_s
    poll = _POLL_S
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GitTimeout(f"git {step} took longer than {session.policy.timeout_s:g} s")
            wait = min(remaining, poll) if budget is not None else remaining
            try:
                return proc.communicate(input=stdin, timeout=wait)
            except subprocess.TimeoutExpired:
                pass
            # The first look is one poll in: a step that ends sooner (a mirror's fetch of
            # a small delta, docs/git-door.md#mirrors) costs no walk of the folder.
            if budget is not None:
                poll = _check_budget(budget, step)
    except BaseException:
        _kill_group(proc)
        raise


def _check_budget(budget: DiskBudget, step: str) -> float:
    """Raise when ``budget.path`` went over its size; return how long to wait before the
    next look (ten times the cost of this one, so big trees are not walked nonstop)."""
    started = time.monotonic()
    if tree_bytes(budget.path) > budget.max_bytes:
        raise GitLimitExceeded(f"limit exceeded: git {step} went over the disk budget")
    return max(_POLL_S, 10 * (time.monotonic() - started))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the step's whole process group (git, ssh, helpers), then reap the leader.

    Only called while the leader is not yet reaped, so its pid (= the group id) cannot
    have been reused by an unrelated process."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        # A grandchild that left the group still holds our pipes: stop listening.
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()


def tree_bytes(root: Path, *, skip_git: bool = False) -> int:
    """The bytes of the files under ``root`` (links not followed; ``.git`` at the top left
    out with ``skip_git``). One ``scandir`` per folder and one ``lstat`` per entry: it runs
    after every checkout and mirror update (docs/performance.md#fleet)."""
    total = 0
    stack = [os.fspath(root)]
    top = True
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if top and skip_git and entry.name == ".git":
                        continue
                    with contextlib.suppress(OSError):
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            pass
        top = False
    return total


def check_url(url: str, policy: GitPolicy) -> CheckedUrl:
    return check_repo_url(
        url, allow_local=policy.allow_local, resolve=policy.resolve, local_root=policy.local_root
    )


def local_receive_pack(policy: GitPolicy) -> list[str]:
    """Push options for a local remote (docs/security.md#s5): git runs the remote's
    receive-pack itself, with an environment git clears of the isolation config, so the
    remote's hooks would run with the pushing step's environment. Its receive-pack gets
    hooks switched off on its own command line instead."""
    program = shlex.quote(policy.git_binary)
    return [f"--receive-pack={program} -c core.hooksPath=/dev/null receive-pack"]
