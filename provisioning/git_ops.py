"""The only door to git: hardened clone, commit, ls-remote and push, plus safe file writes.

Everything bmadweb does to a repository goes through this module (STYLE.md point 4), and
every defence of SECURITY.md §1-8, §15 and §17 that concerns git lives here:

* URLs pass :func:`provisioning.urlpolicy.check_repo_url` again right before git runs;
* git runs with literal options only; user data is never an option, always after ``--``,
  in the environment or on stdin;
* git's environment is built from scratch (:func:`git_env`): no system or global config,
  hooks, fsmonitor, symlinks, submodules, filters and redirects disabled, protocols
  limited, a throw-away ``HOME``;
* tokens reach git only through a ``GIT_ASKPASS`` script that reads them from the child's
  environment, ssh keys only through a 0600 file removed afterwards; error messages are
  scrubbed of both;
* every git step has a time budget and a killed step takes its whole process group with
  it; clones have a disk budget checked while they run and before the checkout.

Git is run through :mod:`subprocess` rather than GitPython's ``Git.execute`` on purpose:
GitPython starts from a copy of ``os.environ`` (so a stray ``GIT_*`` variable of the
worker would leak in) and kills only the children it can find by parent pid, whereas
bmadweb needs a clean environment and a process-group kill. Nothing else in bmadweb may
run git either. No Django here: settings arrive as a :class:`GitPolicy`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from provisioning.engine import fsafe
from provisioning.engine.paths import UnsafePathError as UnsafePath
from provisioning.urlpolicy import CheckedUrl, Resolver, check_repo_url, resolve_host

__all__ = [
    "ClonedRepo",
    "Credentials",
    "GitCommandFailed",
    "GitDiverged",
    "GitLimitExceeded",
    "GitOpsError",
    "GitPolicy",
    "GitTimeout",
    "Identity",
    "InvalidInput",
    "NothingToCommit",
    "PushResult",
    "UnsafePath",
    "clone",
    "commit_all",
    "git_env",
    "head_sha",
    "push_branch",
    "push_default",
    "remote_head",
    "safe_delete",
    "safe_write",
    "scrub",
    "temp_workdir",
    "tracked_symlinks",
    "validate_base_branch",
    "validate_branch_name",
]

StrPath = str | os.PathLike[str]

BRANCH_RE = re.compile(r"^bmadweb/[a-z0-9][a-z0-9-]{0,62}/[0-9a-z-]{1,64}$")
_BASE_BRANCH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+-]{0,254}$")
_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FORBIDDEN_IDENTITY_CHARS = re.compile(r"[\x00-\x1f\x7f<>]")
_MAX_STDERR = 2000
_MAX_MESSAGE = 64 * 1024
_POLL_S = 0.1


# --------------------------------------------------------------------------- errors


class GitOpsError(Exception):
    """Base of every error raised here; messages are already scrubbed of secrets."""


class GitCommandFailed(GitOpsError):
    """A git step exited with an unexpected status."""

    def __init__(self, step: str, returncode: int, stderr: str) -> None:
        super().__init__(f"git {step} failed (exit {returncode}): {stderr}".rstrip(": "))
        self.step = step
        self.returncode = returncode
        self.stderr = stderr


class GitTimeout(GitOpsError):
    """A git step ran past its time budget and was killed with its process group."""


class GitLimitExceeded(GitOpsError):
    """A clone went over the disk budget; it was stopped and removed."""


class GitDiverged(GitOpsError):
    """The remote branch holds a commit bmadweb did not expect; nothing was pushed."""


class NothingToCommit(GitOpsError):
    """The work tree has no change to commit."""


class InvalidInput(GitOpsError, ValueError):
    """A branch name, identity, sha, run id or message that git must never see."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class GitPolicy:
    """Operator settings for every git call (built from Django settings by the caller)."""

    allow_local: bool = False
    max_repo_bytes: int = 256 * 1024 * 1024
    timeout_s: float = 300.0
    temp_base: Path | None = None
    git_binary: str = "git"
    ssh_program: str = "ssh"
    resolve: Resolver = resolve_host

    def __post_init__(self) -> None:
        if self.max_repo_bytes <= 0 or self.timeout_s <= 0:
            raise ValueError("max_repo_bytes and timeout_s must be positive")


@dataclass(frozen=True, slots=True)
class Credentials:
    """Secrets for one remote. ``repr`` never shows them."""

    https_token: str | None = field(default=None, repr=False)
    https_username: str = "x-access-token"
    ssh_private_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # A newline would let the askpass script answer a second prompt with garbage.
        for value in (self.https_token, self.https_username):
            if value is not None and (not value or _has_control_chars(value)):
                raise InvalidInput("credentials must be non-empty single-line text")
        if self.ssh_private_key is not None and "\x00" in self.ssh_private_key:
            raise InvalidInput("the ssh private key must be text")

    def __repr__(self) -> str:
        token = "***" if self.https_token else None
        key = "***" if self.ssh_private_key else None
        return f"Credentials(https_token={token}, ssh_private_key={key})"

    __str__ = __repr__

    def secrets(self) -> tuple[str, ...]:
        """Every string that must never appear in a log line or an error."""
        found = [self.https_token or ""]
        if self.ssh_private_key:
            found.append(self.ssh_private_key.strip())
            found.extend(line for line in self.ssh_private_key.splitlines() if len(line) >= 16)
        return tuple(s for s in found if s)


@dataclass(frozen=True, slots=True)
class Identity:
    """Author and committer of bmadweb's commits; values that could inject config or
    headers (CR, LF, NUL, other control characters, ``<``, ``>``) are refused."""

    name: str
    email: str

    def __post_init__(self) -> None:
        for what, value in (("author name", self.name), ("author email", self.email)):
            if not isinstance(value, str) or not value.strip() or len(value) > 256:
                raise InvalidInput(f"{what} must be 1-256 characters")
            if _FORBIDDEN_IDENTITY_CHARS.search(value):
                raise InvalidInput(f"{what} must not contain control characters, '<' or '>'")


@dataclass(frozen=True, slots=True)
class ClonedRepo:
    path: Path
    branch: str
    head_sha: str


@dataclass(frozen=True, slots=True)
class PushResult:
    status: Literal["pushed", "already_pushed"]
    branch: str
    sha: str

    @property
    def message(self) -> str:
        return "already pushed" if self.status == "already_pushed" else "pushed"


# --------------------------------------------------------------------------- scrubbing

_URL_USERINFO_RE = re.compile(r"(://)[^/@\s]+@")


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (and any URL user-info) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _URL_USERINFO_RE.sub(r"\1***@", text)


def _has_control_chars(value: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)


# --------------------------------------------------------------------------- environment


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
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CEILING_DIRECTORIES": str(home.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
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


# --------------------------------------------------------------------------- sessions

_ASKPASS_SCRIPT = """#!/bin/sh
# bmadweb askpass: answers git's prompts from the environment, never from argv.
case "$1" in
  Username*) printf '%s\\n' "$BMADWEB_GIT_USERNAME" ;;
  *) printf '%s\\n' "$BMADWEB_GIT_PASSWORD" ;;
esac
"""


@dataclass(frozen=True, slots=True)
class _Session:
    policy: GitPolicy
    home: Path
    env: dict[str, str]
    secrets: tuple[str, ...]


@contextlib.contextmanager
def _session(
    policy: GitPolicy,
    *,
    credentials: Credentials | None = None,
    checked: CheckedUrl | None = None,
    identity: Identity | None = None,
    date: datetime | None = None,
) -> Iterator[_Session]:
    """A private 0700 ``HOME`` holding the askpass script and ssh key, removed on exit."""
    with temp_workdir(policy.temp_base, prefix="bmadweb-git-") as home:
        extra = _pin_https_addresses(checked)
        env = git_env(home=home, policy=policy, identity=identity, date=date, extra_config=extra)
        env["GIT_SSH_COMMAND"] = _ssh_command(home, policy, credentials, checked)
        if credentials is not None and credentials.https_token:
            env.update(_askpass_env(home, credentials))
        secrets = credentials.secrets() if credentials else ()
        yield _Session(policy=policy, home=home, env=env, secrets=secrets)


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


# --------------------------------------------------------------------------- running git


@dataclass(frozen=True, slots=True)
class _DiskBudget:
    path: Path
    max_bytes: int


def _run_git(
    session: _Session,
    args: Sequence[str],
    *,
    cwd: StrPath,
    step: str,
    stdin: bytes | None = None,
    ok_codes: tuple[int, ...] = (0,),
    budget: _DiskBudget | None = None,
) -> tuple[int, str]:
    """Run one git step in its own process group; return (status, stdout)."""
    argv = [session.policy.git_binary, *args]
    try:
        proc = subprocess.Popen(  # literal argv, never a shell
            argv,
            cwd=cwd,
            env=session.env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise GitOpsError(f"git {step} could not start: {exc.strerror}") from None
    out, err = _communicate(proc, session, step=step, stdin=stdin, budget=budget)
    if proc.returncode not in ok_codes:
        text = err.decode("utf-8", "replace")[-_MAX_STDERR:].strip()
        raise GitCommandFailed(step, proc.returncode, scrub(text, session.secrets))
    return proc.returncode, out.decode("utf-8", "surrogateescape")


def _communicate(
    proc: subprocess.Popen[bytes],
    session: _Session,
    *,
    step: str,
    stdin: bytes | None,
    budget: _DiskBudget | None,
) -> tuple[bytes, bytes]:
    deadline = time.monotonic() + session.policy.timeout_s
    poll = _POLL_S
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GitTimeout(f"git {step} took longer than {session.policy.timeout_s:g} s")
            if budget is not None:
                poll = _check_budget(budget, step)
            wait = min(remaining, poll) if budget is not None else remaining
            try:
                return proc.communicate(input=stdin, timeout=wait)
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        _kill_group(proc)
        raise


def _check_budget(budget: _DiskBudget, step: str) -> float:
    """Raise when ``budget.path`` went over its size; return how long to wait before the
    next look (ten times the cost of this one, so big trees are not walked nonstop)."""
    started = time.monotonic()
    if _tree_bytes(budget.path) > budget.max_bytes:
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


def _tree_bytes(root: Path, *, skip_git: bool = False) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if skip_git and dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


# --------------------------------------------------------------------------- validation


def _check_url(url: str, policy: GitPolicy) -> CheckedUrl:
    return check_repo_url(url, allow_local=policy.allow_local, resolve=policy.resolve)


def validate_branch_name(name: str, *, policy: GitPolicy | None = None) -> str:
    """A branch bmadweb creates: ``bmadweb/<project>/<run>``, also accepted by
    ``git check-ref-format --branch``."""
    if not isinstance(name, str) or not BRANCH_RE.match(name):
        raise InvalidInput("branch names must look like bmadweb/<project>/<run>")
    _check_ref_format(name, policy or GitPolicy())
    return name


def validate_base_branch(name: str, *, policy: GitPolicy | None = None) -> str:
    """A branch that already exists on the remote (the default branch)."""
    if not isinstance(name, str) or not _BASE_BRANCH_RE.match(name):
        raise InvalidInput("the branch name contains characters bmadweb does not accept")
    _check_ref_format(name, policy or GitPolicy())
    return name


def _check_ref_format(name: str, policy: GitPolicy) -> None:
    # The regexes already refuse a leading '-', so the name cannot be read as an option
    # (check-ref-format --branch does not accept '--').
    with _session(policy) as session:
        status, _ = _run_git(
            session,
            ["check-ref-format", "--branch", name],
            cwd=session.home,
            step="check-ref-format",
            ok_codes=(0, 1, 128),
        )
    if status != 0:
        raise InvalidInput("git does not accept this branch name")


def _check_sha(sha: str | None) -> str | None:
    if sha is not None and not (isinstance(sha, str) and _SHA_RE.match(sha)):
        raise InvalidInput("commit ids must be 40 or 64 lowercase hex digits")
    return sha


# --------------------------------------------------------------------------- temp dirs


@contextlib.contextmanager
def temp_workdir(base: StrPath | None = None, *, prefix: str = "bmadweb-") -> Iterator[Path]:
    """A fresh 0700 directory under ``base``, removed when the block ends, however it ends."""
    if base is not None:
        Path(base).mkdir(parents=True, exist_ok=True, mode=0o700)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        _remove_tree(path)


def sweep_stale_workdirs(base: StrPath, *, older_than_s: float, prefix: str = "bmadweb-") -> int:
    """Remove ``prefix*`` directories under ``base`` untouched for ``older_than_s`` seconds.

    ``temp_workdir`` always cleans up after itself, except when its process is killed
    (a worker SIGKILLed mid-run); this sweep, run by the scheduler, frees that disk.
    Returns how many directories were removed. Symlinks are never followed.
    """
    root = Path(base)
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for entry in root.iterdir():
        if not entry.name.startswith(prefix) or entry.is_symlink() or not entry.is_dir():
            continue
        if entry.lstat().st_mtime < cutoff:
            _remove_tree(entry)
            removed += 1
    return removed


def _remove_tree(path: Path) -> None:
    def make_writable_and_retry(func: object, failed: str, _exc: BaseException) -> None:
        # Read-only directories (a test fixture, a half-written clone) block unlinking.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            if callable(func):
                func(failed)

    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onexc=make_writable_and_retry)


# --------------------------------------------------------------------------- clone


def clone(
    url: str,
    dest: StrPath,
    *,
    branch: str,
    policy: GitPolicy,
    credentials: Credentials | None = None,
    depth: int = 1,
) -> ClonedRepo:
    """Shallow single-branch clone of ``branch`` into ``dest`` (which must not exist).

    The work tree is written only after its total size was checked against
    ``policy.max_repo_bytes``; the transfer itself is watched against twice that. On any
    failure ``dest`` is removed.
    """
    checked = _check_url(url, policy)
    validate_base_branch(branch, policy=policy)
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= 1000:
        raise InvalidInput("depth must be an integer between 1 and 1000")
    target = Path(dest).absolute()
    if target.exists() or target.is_symlink():
        raise GitOpsError("the clone destination already exists")
    try:
        with _session(policy, credentials=credentials, checked=checked) as session:
            _fetch_without_checkout(session, checked.url, target, branch, depth)
            _check_tree_size(session, target)
            _checkout(session, target)
            sha = _rev_parse_head(session, target)
    except BaseException:
        _remove_tree(target)
        raise
    return ClonedRepo(path=target, branch=branch, head_sha=sha)


def _fetch_without_checkout(
    session: _Session, url: str, target: Path, branch: str, depth: int
) -> None:
    # No --filter=blob:limit: at depth 1 the checkout needs every blob of the tip anyway,
    # and a partial clone would lazily re-contact the remote in later steps.
    args = [
        "clone",
        "--quiet",
        "--no-checkout",
        "--no-local",  # local remotes go through the transport: no hardlinks, depth honoured
        "--single-branch",
        "--no-tags",
        f"--depth={depth}",
        "--no-recurse-submodules",
        "--template=",
        "--branch",
        branch,
        "--",
        url,
        str(target),
    ]
    budget = _DiskBudget(target, 2 * session.policy.max_repo_bytes + 1024 * 1024)
    _run_git(session, args, cwd=session.home, step="clone", budget=budget)


def _check_tree_size(session: _Session, repo: Path) -> None:
    """Refuse before checkout when the tip's blobs add up to more than the budget."""
    _, listing = _run_git(session, ["ls-tree", "-r", "-l", "-z", "HEAD"], cwd=repo, step="ls-tree")
    total = 0
    for entry in filter(None, listing.split("\0")):
        size = entry.split("\t", 1)[0].split()[-1]
        total += int(size) if size.isdigit() else 0
    if total > session.policy.max_repo_bytes:
        raise GitLimitExceeded(
            f"limit exceeded: the repository holds {total} bytes, "
            f"more than the {session.policy.max_repo_bytes} allowed"
        )


def _checkout(session: _Session, repo: Path) -> None:
    budget = _DiskBudget(repo, 3 * session.policy.max_repo_bytes + 1024 * 1024)
    args = ["checkout", "--quiet", "--force", "--no-recurse-submodules", "HEAD", "--"]
    _run_git(session, args, cwd=repo, step="checkout", budget=budget)
    if _tree_bytes(repo, skip_git=True) > session.policy.max_repo_bytes:
        raise GitLimitExceeded("limit exceeded: the checked-out work tree is too large")


def _rev_parse_head(session: _Session, repo: StrPath) -> str:
    _, out = _run_git(
        session, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], cwd=repo, step="rev-parse"
    )
    return out.strip()


def head_sha(repo: StrPath | ClonedRepo, *, policy: GitPolicy | None = None) -> str:
    """The commit id ``HEAD`` points to in a local clone."""
    path = repo.path if isinstance(repo, ClonedRepo) else Path(repo)
    with _session(policy or GitPolicy()) as session:
        return _rev_parse_head(session, path)


# --------------------------------------------------------------------------- remote state


def remote_head(
    url: str, branch: str, *, policy: GitPolicy, credentials: Credentials | None = None
) -> str | None:
    """The commit ``refs/heads/<branch>`` points to on the remote, or None if absent."""
    checked = _check_url(url, policy)
    _validate_any_branch(branch, policy)
    with _session(policy, credentials=credentials, checked=checked) as session:
        return _ls_remote(session, checked.url, branch)


def _validate_any_branch(branch: str, policy: GitPolicy) -> None:
    if isinstance(branch, str) and branch.startswith("bmadweb/"):
        validate_branch_name(branch, policy=policy)
    else:
        validate_base_branch(branch, policy=policy)


def _ls_remote(session: _Session, url: str, branch: str) -> str | None:
    ref = f"refs/heads/{branch}"
    _, out = _run_git(session, ["ls-remote", "--", url, ref], cwd=session.home, step="ls-remote")
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        # ls-remote patterns match by suffix: keep only the exact ref.
        if name == ref and _SHA_RE.match(sha):
            return sha
    return None


# --------------------------------------------------------------------------- commit


def commit_all(
    repo: StrPath | ClonedRepo,
    *,
    branch: str | None,
    message: str,
    run_id: str,
    author_name: str,
    author_email: str,
    date: datetime,
    policy: GitPolicy | None = None,
) -> str:
    """Commit every change of the work tree and return the new commit id.

    ``branch`` (a ``bmadweb/<project>/<run>`` name) is created at ``HEAD`` first; None
    commits on the current branch (direct pushes). The commit is deterministic: author
    and committer dates come from ``date`` and the message ends with a
    ``Bmadweb-Run: <run_id>`` trailer, so a retried run produces the same id. Hooks are
    skipped twice over (``--no-verify`` and ``core.hooksPath=/dev/null``).
    """
    policy = policy or GitPolicy()
    path = repo.path if isinstance(repo, ClonedRepo) else Path(repo)
    identity = Identity(author_name, author_email)
    body = _commit_message(message, run_id)
    if branch is not None:
        validate_branch_name(branch, policy=policy)
    with _session(policy, identity=identity, date=date) as session:
        if branch is not None:
            checkout = ["checkout", "--quiet", "-B", branch, "HEAD", "--"]
            _run_git(session, checkout, cwd=path, step="checkout")
        _run_git(session, ["add", "--all", "--", "."], cwd=path, step="add")
        status, _ = _run_git(
            session, ["diff", "--cached", "--quiet"], cwd=path, step="diff", ok_codes=(0, 1)
        )
        if status == 0:
            raise NothingToCommit("nothing to commit: the work tree has no change")
        commit = ["commit", "--quiet", "--no-verify", "--no-gpg-sign", "--cleanup=whitespace"]
        _run_git(session, [*commit, "--file=-"], cwd=path, step="commit", stdin=body)
        return _rev_parse_head(session, path)


def _commit_message(message: str, run_id: str) -> bytes:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidInput("the run id must be 1-64 letters, digits, '.', '_' or '-'")
    if not isinstance(message, str) or not message.strip() or "\x00" in message:
        raise InvalidInput("the commit message must be non-empty text without NUL")
    if len(message) > _MAX_MESSAGE:
        raise InvalidInput("the commit message is too long")
    return f"{message.strip()}\n\nBmadweb-Run: {run_id}\n".encode()


# --------------------------------------------------------------------------- push


def push_branch(
    repo: StrPath | ClonedRepo,
    url: str,
    branch: str,
    *,
    expected_remote_sha: str | None = None,
    credentials: Credentials | None,
    policy: GitPolicy,
) -> PushResult:
    """Push ``HEAD`` to the bmadweb branch ``branch``, idempotently and never forced.

    Same commit already there → "already pushed" without pushing; the branch holding
    anything other than ``expected_remote_sha`` (None: the branch must not exist) →
    :class:`GitDiverged`.
    """
    validate_branch_name(branch, policy=policy)
    return _push(repo, url, branch, _check_sha(expected_remote_sha), credentials, policy)


def push_default(
    repo: StrPath | ClonedRepo,
    url: str,
    branch: str,
    *,
    expected_remote_sha: str,
    credentials: Credentials | None,
    policy: GitPolicy,
) -> PushResult:
    """Fast-forward the default branch ``branch`` from ``expected_remote_sha`` to ``HEAD``.

    If the remote branch moved since the clone → :class:`GitDiverged`; the remote refuses
    anything that is not a fast-forward because nothing here forces.
    """
    validate_base_branch(branch, policy=policy)
    expected = _check_sha(expected_remote_sha)
    if expected is None:
        raise InvalidInput("a direct push needs the commit the branch is expected to hold")
    return _push(repo, url, branch, expected, credentials, policy)


def _push(
    repo: StrPath | ClonedRepo,
    url: str,
    branch: str,
    expected: str | None,
    credentials: Credentials | None,
    policy: GitPolicy,
) -> PushResult:
    checked = _check_url(url, policy)
    path = repo.path if isinstance(repo, ClonedRepo) else Path(repo)
    with _session(policy, credentials=credentials, checked=checked) as session:
        local = _rev_parse_head(session, path)
        if _already_there(session, checked.url, branch, local, expected):
            return PushResult(status="already_pushed", branch=branch, sha=local)
        refspec = f"HEAD:refs/heads/{branch}"
        args = ["push", "--porcelain", "--no-verify", "--no-recurse-submodules"]
        try:
            _run_git(session, [*args, "--", checked.url, refspec], cwd=path, step="push")
        except GitCommandFailed:
            # Someone (maybe our own earlier attempt) raced us: classify the new state.
            if _already_there(session, checked.url, branch, local, expected):
                return PushResult(status="already_pushed", branch=branch, sha=local)
            raise
    return PushResult(status="pushed", branch=branch, sha=local)


def _already_there(
    session: _Session, url: str, branch: str, local: str, expected: str | None
) -> bool:
    remote = _ls_remote(session, url, branch)
    if remote == local:
        return True
    if remote != expected:
        raise GitDiverged(
            f"diverged: the remote branch {branch} holds {remote or 'nothing'}, "
            f"expected {expected or 'nothing'}"
        )
    return False


# --------------------------------------------------------------------------- safe writes


def safe_write(
    root: StrPath, rel: str, content: bytes | str, *, policy: GitPolicy | None = None
) -> Path:
    """Write ``content`` to ``root/rel`` without following any symlink, including the
    ones git records in the index but checked out as plain files (``core.symlinks=false``).
    See :func:`provisioning.engine.fsafe.write_path` for every refusal (:class:`UnsafePath`).
    """
    return fsafe.write_path(root, rel, content, tracked_symlinks=tracked_symlinks(root, policy))


def safe_delete(root: StrPath, rel: str, *, policy: GitPolicy | None = None) -> bool:
    """Delete the plain file ``root/rel`` (False if absent) with the same refusals."""
    return fsafe.delete_path(root, rel, tracked_symlinks=tracked_symlinks(root, policy))


def tracked_symlinks(repo: StrPath | ClonedRepo, policy: GitPolicy | None = None) -> frozenset[str]:
    """Paths git records as symlinks (mode 120000) in the index, if there is one; pass
    them to every write in the clone (``core.symlinks=false`` checks them out as files)."""
    root = Path(os.path.realpath(repo.path if isinstance(repo, ClonedRepo) else repo))
    policy = policy or GitPolicy()
    index = root / ".git" / "index"
    try:
        info = os.stat(index, follow_symlinks=False)
    except FileNotFoundError:
        return frozenset()
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
    return _tracked_symlinks_cached(str(root), stamp, policy)


@functools.lru_cache(maxsize=64)
def _tracked_symlinks_cached(
    root: str, _stamp: tuple[int, int, int], policy: GitPolicy
) -> frozenset[str]:
    with _session(policy) as session:
        _, out = _run_git(session, ["ls-files", "--stage", "-z"], cwd=root, step="ls-files")
    links = set()
    for entry in filter(None, out.split("\0")):
        meta, _, path = entry.partition("\t")
        if meta.startswith("120000 "):
            links.add(path)
    return frozenset(links)


# --------------------------------------------------------------------------- seeding


def init_bare_from_tree(
    tree: StrPath,
    bare: StrPath,
    *,
    branch: str,
    message: str,
    identity: Identity,
    date: datetime,
    policy: GitPolicy,
) -> str:
    """Create the bare repository ``bare`` whose ``branch`` holds one commit of ``tree``.

    For the development demo and benchmarks: a local "remote" that bmadweb can then
    clone and push to like any other. Returns the commit id.
    """
    validate_base_branch(branch, policy=policy)
    tree_path, bare_path = Path(tree), Path(bare)
    with _session(policy, identity=identity, date=date) as session:
        _run_git(
            session,
            ["init", "--quiet", f"--initial-branch={branch}", "--", "."],
            cwd=tree_path,
            step="init",
        )
        _run_git(session, ["add", "--all", "--", "."], cwd=tree_path, step="add")
        body = f"{message.strip()}\n".encode()
        _run_git(
            session,
            ["commit", "--quiet", "--no-verify", "--no-gpg-sign", "--file=-"],
            cwd=tree_path,
            step="commit",
            stdin=body,
        )
        _run_git(
            session,
            ["clone", "--quiet", "--bare", "--", str(tree_path), str(bare_path)],
            cwd=tree_path.parent,
            step="clone",
        )
        return _rev_parse_head(session, tree_path)
