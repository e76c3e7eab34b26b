"""Clone, inspect, commit and push: the git operations a run performs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from provisioning.git_ops.process import (
    DiskBudget,
    Session,
    check_url,
    git_session,
    local_receive_pack,
    run_git,
    tree_bytes,
)
from provisioning.git_ops.refs import (
    RUN_ID_RE,
    SHA_RE,
    check_sha,
    validate_any_branch,
    validate_base_branch,
    validate_branch_name,
)
from provisioning.git_ops.types import (
    ClonedRepo,
    Credentials,
    GitCommandFailed,
    GitDiverged,
    GitLimitExceeded,
    GitOpsError,
    GitPolicy,
    Identity,
    InvalidInput,
    NothingToCommit,
    PushResult,
    StrPath,
)
from provisioning.git_ops.workdir import remove_tree

_MAX_MESSAGE = 64 * 1024


# --------------------------------------------------------------------------- errors


# --------------------------------------------------------------------------- values


# --------------------------------------------------------------------------- scrubbing


# --------------------------------------------------------------------------- environment


# --------------------------------------------------------------------------- sessions


# --------------------------------------------------------------------------- running git


# --------------------------------------------------------------------------- validation


# --------------------------------------------------------------------------- temp dirs


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
    checked = check_url(url, policy)
    validate_base_branch(branch, policy=policy)
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= 1000:
        raise InvalidInput("depth must be an integer between 1 and 1000")
    target = Path(dest).absolute()
    if target.exists() or target.is_symlink():
        raise GitOpsError("the clone destination already exists")
    try:
        with git_session(policy, credentials=credentials, checked=checked) as session:
            _fetch_without_checkout(session, checked.url, target, branch, depth)
            tree = check_tree_size(session, target)
            _checkout(session, target)
            sha = rev_parse_head(session, target)
    except BaseException:
        remove_tree(target)
        raise
    return ClonedRepo(path=target, branch=branch, head_sha=sha, tree=tree)


def _fetch_without_checkout(
    session: Session, url: str, target: Path, branch: str, depth: int
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
    budget = DiskBudget(target, 2 * session.policy.max_repo_bytes + 1024 * 1024)
    run_git(session, args, cwd=session.home, step="clone", budget=budget)


def check_tree_size(session: Session, repo: Path, rev: str = "HEAD") -> dict[str, tuple[str, str]]:
    """Refuse before checkout when the tip's blobs add up to more than the budget; return
    the listing (path -> mode, object id), which the checkout then writes out. ``rev``:
    ``HEAD`` or a commit id (a mirror's fetched tip, docs/git-door.md#mirrors)."""
    args = ["ls-tree", "-r", "-l", "-z", f"{rev}^{{commit}}"]  # a commit's tree, or refused
    _, listing = run_git(session, args, cwd=repo, step="ls-tree")
    total = files = 0
    tree: dict[str, tuple[str, str]] = {}
    for entry in filter(None, listing.split("\0")):
        meta, _, path = entry.partition("\t")
        mode, _, oid, size = meta.split()
        total += int(size) if size.isdigit() else 0
        tree[path] = (mode, oid)
        files += 1
    if files > session.policy.max_repo_files:
        raise GitLimitExceeded(
            f"limit exceeded: the repository holds {files} files, "
            f"more than the {session.policy.max_repo_files} allowed"
        )
    if total > session.policy.max_repo_bytes:
        raise GitLimitExceeded(
            f"limit exceeded: the repository holds {total} bytes, "
            f"more than the {session.policy.max_repo_bytes} allowed"
        )
    return tree


def _checkout(session: Session, repo: Path) -> None:
    args = ["checkout", "--quiet", "--force", "--no-recurse-submodules", "HEAD", "--"]
    run_git(session, args, cwd=repo, step="checkout", budget=work_tree_budget(session, repo))
    measure_work_tree(session, repo)


def work_tree_budget(session: Session, repo: Path) -> DiskBudget:
    """What the step writing the work tree (a clone's checkout, a mirror's reset) may
    take on disk while it runs (docs/security.md#s7)."""
    return DiskBudget(repo, 3 * session.policy.max_repo_bytes + 1024 * 1024)


def measure_work_tree(session: Session, repo: Path) -> int:
    """The written work tree's bytes, refused over the budget (docs/security.md#s7)."""
    size = tree_bytes(repo, skip_git=True)
    if size > session.policy.max_repo_bytes:
        raise GitLimitExceeded("limit exceeded: the checked-out work tree is too large")
    return size


def rev_parse_head(session: Session, repo: StrPath) -> str:
    _, out = run_git(
        session, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], cwd=repo, step="rev-parse"
    )
    return out.strip()


def head_sha(repo: StrPath | ClonedRepo, *, policy: GitPolicy | None = None) -> str:
    """The commit id ``HEAD`` points to in a local clone."""
    path = repo.path if isinstance(repo, ClonedRepo) else Path(repo)
    with git_session(policy or GitPolicy()) as session:
        return rev_parse_head(session, path)


# --------------------------------------------------------------------------- remote state


def remote_head(
    url: str, branch: str, *, policy: GitPolicy, credentials: Credentials | None = None
) -> str | None:
    """The commit ``refs/heads/<branch>`` points to on the remote, or None if absent."""
    checked = check_url(url, policy)
    validate_any_branch(branch, policy)
    with git_session(policy, credentials=credentials, checked=checked) as session:
        return _ls_remote(session, checked.url, branch)


def _ls_remote(session: Session, url: str, branch: str) -> str | None:
    ref = f"refs/heads/{branch}"
    _, out = run_git(session, ["ls-remote", "--", url, ref], cwd=session.home, step="ls-remote")
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        # ls-remote patterns match by suffix: keep only the exact ref.
        if name == ref and SHA_RE.match(sha):
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
    body = commit_message(message, run_id)
    if branch is not None:
        validate_branch_name(branch, policy=policy)
    with git_session(policy, identity=identity, date=date) as session:
        return commit_work_tree(session, path, branch, body)


def commit_work_tree(session: Session, path: Path, branch: str | None, body: bytes) -> str:
    """``commit_all``'s steps in an open session (identity and dates in its environment)."""
    if branch is not None:
        checkout = ["checkout", "--quiet", "-B", branch, "HEAD", "--"]
        run_git(session, checkout, cwd=path, step="checkout")
    run_git(session, ["add", "--all", "--", "."], cwd=path, step="add")
    status, _ = run_git(
        session, ["diff", "--cached", "--quiet"], cwd=path, step="diff", ok_codes=(0, 1)
    )
    if status == 0:
        raise NothingToCommit("nothing to commit: the work tree has no change")
    commit = ["commit", "--quiet", "--no-verify", "--no-gpg-sign", "--cleanup=whitespace"]
    run_git(session, [*commit, "--file=-"], cwd=path, step="commit", stdin=body)
    return rev_parse_head(session, path)


def commit_message(message: str, run_id: str) -> bytes:
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
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
    sha: str | None = None,
) -> PushResult:
    """Push ``HEAD`` (or the commit ``sha`` of the clone) to the bmadweb branch
    ``branch``, idempotently and never forced.

    Same commit already there → "already pushed" without pushing; the branch holding
    anything other than ``expected_remote_sha`` (None: the branch must not exist) →
    :class:`GitDiverged`.
    """
    validate_branch_name(branch, policy=policy)
    expected = check_sha(expected_remote_sha)
    return _push(repo, url, branch, expected, credentials, policy, check_sha(sha))


def push_default(
    repo: StrPath | ClonedRepo,
    url: str,
    branch: str,
    *,
    expected_remote_sha: str,
    credentials: Credentials | None,
    policy: GitPolicy,
    sha: str | None = None,
) -> PushResult:
    """Fast-forward the default branch ``branch`` from ``expected_remote_sha`` to ``HEAD``
    (or to the commit ``sha`` of the clone).

    If the remote branch moved since the clone → :class:`GitDiverged`; the remote refuses
    anything that is not a fast-forward because nothing here forces.
    """
    validate_base_branch(branch, policy=policy)
    expected = check_sha(expected_remote_sha)
    if expected is None:
        raise InvalidInput("a direct push needs the commit the branch is expected to hold")
    return _push(repo, url, branch, expected, credentials, policy, check_sha(sha))


def _push(
    repo: StrPath | ClonedRepo,
    url: str,
    branch: str,
    expected: str | None,
    credentials: Credentials | None,
    policy: GitPolicy,
    sha: str | None,
) -> PushResult:
    checked = check_url(url, policy)
    path = repo.path if isinstance(repo, ClonedRepo) else Path(repo)
    with git_session(policy, credentials=credentials, checked=checked) as session:
        local = sha or rev_parse_head(session, path)
        if _already_there(session, checked.url, branch, local, expected):
            return PushResult(status="already_pushed", branch=branch, sha=local)
        refspec = f"{local}:refs/heads/{branch}"
        args = ["push", "--porcelain", "--no-verify", "--no-recurse-submodules"]
        if checked.kind == "local":
            args += local_receive_pack(session.policy)
        try:
            run_git(session, [*args, "--", checked.url, refspec], cwd=path, step="push")
        except GitCommandFailed:
            # Someone (maybe our own earlier attempt) raced us: classify the new state.
            if _already_there(session, checked.url, branch, local, expected):
                return PushResult(status="already_pushed", branch=branch, sha=local)
            raise
    return PushResult(status="pushed", branch=branch, sha=local)


def _already_there(
    session: Session, url: str, branch: str, local: str, expected: str | None
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


# --------------------------------------------------------------------------- seeding
