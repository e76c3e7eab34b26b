"""Per-project mirrors: a persistent shallow clone that analyses reuse (docs/git-door.md#mirrors).

``<root>/<key>/repo`` is an ordinary clone made by :func:`clone`. On reuse, one session
fetches only the delta of the default branch (at the same depth, so the history an
analysis reads is the one a fresh clone would have), lists the new tip and refuses it as
a fresh clone would (the size and file budgets, docs/security.md#s7), then brings the work
tree to exactly that tip: ``reset --hard`` (hand-modified and deleted files restored,
files deleted upstream removed) and ``clean -ffdx`` (untracked and ignored files gone).

* **One user at a time.** ``<root>/<key>.lock`` is held with ``fcntl.flock`` while the
  mirror is updated and read; eviction takes it without waiting and skips a busy mirror.
* **Half-written is detected.** ``state.json`` is removed before anything changes and
  written again (atomically) once the tree is exact; a mirror without it (a killed
  worker, a failed step) is removed and cloned afresh, and so is one a git step finds
  corrupt.
* **Made for one remote and one set of credentials.** The state keeps an HMAC (keyed by
  the caller) of the URL, the branch and the credentials; any change clones afresh. The
  credentials themselves are never written: git gets them per step through askpass, as
  for a fresh clone, and the URL is given on the command line (docs/security.md#s8).
* **A disk budget.** :func:`mirrors_evict` removes the least recently used mirrors until
  the total fits. Sizes are the bytes of the files, as the clone budgets count them
  (``tree_bytes``); each mirror's lock file records its size and last use, so eviction
  reads one folder and opens no mirror.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from provisioning.git_ops.process import (
    DiskBudget,
    Session,
    check_url,
    git_session,
    run_git,
    tree_bytes,
)
from provisioning.git_ops.refs import validate_base_branch
from provisioning.git_ops.repo import (
    check_tree_size,
    clone,
    measure_work_tree,
    work_tree_budget,
)
from provisioning.git_ops.types import (
    ClonedRepo,
    Credentials,
    GitLimitExceeded,
    GitOpsError,
    GitPolicy,
    GitTimeout,
    InvalidInput,
)
from provisioning.git_ops.workdir import read_private_file, remove_tree, write_private_file

_KEY_RE = re.compile(r"[0-9A-Za-z_-]{1,64}")
_SHA_RE = re.compile(r"[0-9a-f]{40}")
_STATE = "state.json"
_REPO = "repo"
_LOCK = ".lock"
# Objects a force-push or a moved shallow boundary leaves behind are never collected
# (gc is off, docs/security.md#s5): after this many updates the mirror is cloned afresh.
MAX_UPDATES = 50
_LOCK_POLL_S = 0.05
_LOOSE_REF_BYTES = 41  # 40 hex digits and a newline
_MAX_PACKED_REFS_BYTES = 1024 * 1024  # a mirror fetches one branch: a few lines
_MAX_STATE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Mirrored:
    repo: ClonedRepo
    reused: bool  # False: cloned afresh for this use
    # False: the caller's ``need_tree`` said the work tree is not needed, and it still
    # holds an earlier commit; only the objects and ``repo.tree`` are at the tip.
    tree_exact: bool = True
    folder: Path | None = None  # <root>/<key>: the caller may keep its own files there
    previous_head: str | None = None  # on reuse: the commit the mirror held before the fetch
    # The size the mirror's record holds went up with this use (a new mirror, a bigger
    # tree): only then can the mirrors have gone over their budget (``mirrors_evict``).
    grew: bool = True


# Asked after the fetch, with the tip (its listing in ``tree``) and the mirror's folder:
# whether the work tree must be brought to the tip for this use.
NeedTree = Callable[[ClonedRepo, Path], bool]


@dataclass(frozen=True, slots=True)
class _State:
    fingerprint: str
    head: str
    updates: int


def mirror_fingerprint(
    url: str, *, branch: str, credentials: Credentials | None, key: bytes
) -> str:
    """What a mirror was made for, keyed so that the state file tells nothing of the
    credentials (an HMAC, never the secret or a plain hash of it)."""
    secrets = credentials.secrets() if credentials is not None else ()
    user = credentials.https_username if credentials is not None else ""
    material = json.dumps([url, branch, user, *secrets]).encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()


@contextlib.contextmanager
def mirror_use(
    url: str,
    *,
    root: Path,
    key: str,
    branch: str,
    policy: GitPolicy,
    credentials: Credentials | None,
    depth: int,
    fingerprint_key: bytes,
    need_tree: NeedTree | None = None,
) -> Iterator[Mirrored]:
    """The mirror ``key`` under ``root``, at the remote's current ``branch``, locked for
    the block. Reused when it is whole and made for the same URL and credentials;
    otherwise (or when updating it fails on anything but a time-out or a budget) it is
    removed and cloned afresh. Refusals are a fresh clone's: a tree over budget removes
    the mirror and raises :class:`GitLimitExceeded`.

    ``need_tree`` (on reuse): asked once the tip is fetched and listed; False leaves the
    work tree as it is (``reset`` and ``clean`` skipped), for a caller that can answer
    from the listing alone. The next use brings the work tree to its tip as always."""
    if not _KEY_RE.fullmatch(key):
        raise InvalidInput("a mirror key is 1-64 letters, digits, '_' or '-'")
    check_url(url, policy)
    validate_base_branch(branch, policy=policy)
    fingerprint = mirror_fingerprint(
        url, branch=branch, credentials=credentials, key=fingerprint_key
    )
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = root / key
    repo = folder / _REPO
    with _locked(root / f"{key}{_LOCK}", timeout_s=policy.timeout_s, wait=True) as record:
        before = _recorded(record)
        state = _read_state(folder)
        cloned: ClonedRepo | None = None
        updates, size, exact = 0, 0, True
        if state is not None and state.fingerprint == fingerprint and state.updates < MAX_UPDATES:
            _drop_state(folder)  # from here until the new state, the mirror is half-written
            try:
                cloned, work_bytes = _update(
                    url, repo, branch, policy, credentials, depth,
                    need_tree=(lambda tip: need_tree(tip, folder)) if need_tree else None,
                )  # fmt: skip
                updates = state.updates + 1
                if work_bytes is None:  # the work tree as it was: its size as last measured
                    exact, size = False, _recorded(record)
                else:
                    size = work_bytes + tree_bytes(repo / ".git")
            except (GitTimeout, GitLimitExceeded):
                _remove(folder, record)
                raise
            except GitOpsError:
                cloned = None  # corrupt or unusable: cloned afresh below
        if cloned is None:
            _remove(folder, record)
            folder.mkdir(mode=0o700)
            os.ftruncate(record, 1)  # counted (and evictable) even if this clone is cut short
            try:
                cloned = clone(
                    url, repo, branch=branch, policy=policy,
                    credentials=credentials, depth=depth,
                )  # fmt: skip
            except BaseException:
                _remove(folder, record)
                raise
            size = tree_bytes(folder)
        _write_state(folder, _State(fingerprint, cloned.head_sha, updates))
        _record(record, size)
        previous = state.head if updates > 0 and state is not None else None
        yield Mirrored(
            repo=cloned, reused=updates > 0, tree_exact=exact, folder=folder,
            previous_head=previous, grew=size > before,
        )  # fmt: skip
        with contextlib.suppress(OSError):
            os.utime(record)  # last used: eviction goes by this


def _update(
    url: str,
    repo: Path,
    branch: str,
    policy: GitPolicy,
    credentials: Credentials | None,
    depth: int,
    *,
    need_tree: Callable[[ClonedRepo], bool] | None = None,
) -> tuple[ClonedRepo, int | None]:
    """Fetch the delta, check the new tip as a clone would, make the work tree exact;
    returns the repository at the tip and its work tree's bytes (None: ``need_tree``
    said no, and the work tree was left as it was)."""
    if not (repo / ".git").is_dir():
        raise GitOpsError("the mirror has no repository")
    checked = check_url(url, policy)
    with git_session(policy, credentials=credentials, checked=checked) as session:
        sha = _fetch(session, checked.url, repo, branch, depth)
        tree = check_tree_size(session, repo, sha)
        tip = ClonedRepo(path=repo, branch=branch, head_sha=sha, tree=tree)
        if need_tree is not None and not need_tree(tip):
            return tip, None
        # The index and the work tree to the tip: hand-modified files restored, files the
        # tip no longer holds removed. Watched on disk as a clone's checkout is.
        reset = ["reset", "--hard", "--quiet", "--no-recurse-submodules", sha]
        run_git(session, reset, cwd=repo, step="reset", budget=work_tree_budget(session, repo))
        # -ff: nested repositories too; -x: ignored files too. Nothing stays that the
        # tip does not hold; then the tree is measured as a clone's is.
        run_git(session, ["clean", "-ffdxq"], cwd=repo, step="clean")
        work_bytes = measure_work_tree(session, repo)
    return tip, work_bytes


def _fetch(session: Session, url: str, repo: Path, branch: str, depth: int) -> str:
    ref = f"refs/remotes/origin/{branch}"
    args = [
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-recurse-submodules",
        "--no-write-fetch-head",
        f"--depth={depth}",  # deepens or shortens to exactly a fresh clone's history
        "--",
        url,
        f"+refs/heads/{branch}:{ref}",
    ]
    budget = DiskBudget(repo / ".git", 2 * session.policy.max_repo_bytes + 1024 * 1024)
    run_git(session, args, cwd=repo, step="fetch", budget=budget)
    sha = _ref_file_value(repo, ref)
    if sha is None:
        _, out = run_git(
            session, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=repo,
            step="rev-parse",
        )  # fmt: skip
        sha = out.strip()
    if not _SHA_RE.fullmatch(sha):
        raise GitOpsError("the fetched branch has no commit")
    return sha


def _ref_file_value(repo: Path, ref: str) -> str | None:
    """The object id the fetch just wrote to ``ref``, read from the mirror's own ref files
    without a process; None when they give no plain id (then ``rev-parse`` answers). That
    the id names a commit is checked by the listing that follows, which peels it with
    ``^{commit}`` (docs/git-door.md#mirrors).

    A fetch that moves the branch writes the ref loose: one line, the id. A clone packs
    its refs, and a fetch that finds nothing new leaves them so: one line ``<id> <ref>``
    in ``packed-refs``. Both files are git's own and are only read, strictly; a symbolic
    ref, a link or anything unexpected is no answer. (GitPython's ``Repo`` would follow
    the worker's ``GIT_DIR``, and opening it took 1.3 ms: docs/performance.md#loose-ref.)"""
    git_dir = repo / ".git"
    try:
        loose = read_private_file(git_dir / ref, limit=_LOOSE_REF_BYTES)
        if loose is None:  # no loose ref: the packed one, if any
            packed = read_private_file(git_dir / "packed-refs", limit=_MAX_PACKED_REFS_BYTES)
            wanted = ref.encode()
            for line in (packed or b"").splitlines():
                sha, _, name = line.partition(b" ")
                if name == wanted:
                    return _plain_id(sha)
            return None
    except (OSError, ValueError):
        return None
    return _plain_id(loose.removesuffix(b"\n")) if loose.endswith(b"\n") else None


def _plain_id(data: bytes) -> str | None:
    text = data.decode("ascii", "replace")
    return text if _SHA_RE.fullmatch(text) else None


def mirrors_evict(root: Path, *, budget_bytes: int) -> list[str]:
    """Remove the least recently used mirrors under ``root`` until their total size fits
    ``budget_bytes`` (0: remove them all); mirrors in use are skipped. Returns the keys
    removed.

    Reads one folder: each mirror's lock file records its size (its length) and its last
    use (its modification time), so no mirror is opened or walked."""
    if not root.is_dir():
        return []
    found: list[tuple[float, int, str]] = []
    with os.scandir(root) as entries:
        for entry in entries:
            key = entry.name.removesuffix(_LOCK)
            if key == entry.name or not _KEY_RE.fullmatch(key):
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_size > 0:
                found.append((info.st_mtime, info.st_size, key))
    total = sum(size for _, size, _ in found)
    removed: list[str] = []
    for _, size, key in sorted(found):
        if total <= budget_bytes:
            break
        if _remove_if_free(root, key):
            removed.append(key)
            total -= size
    return removed


def _remove_if_free(root: Path, key: str) -> bool:
    try:
        with _locked(root / f"{key}{_LOCK}", timeout_s=0, wait=False) as record:
            _remove(root / key, record)
            return True
    except _Busy:
        return False


def _remove(folder: Path, record: int) -> None:
    _drop_state(folder)
    remove_tree(folder)
    os.ftruncate(record, 0)


def _recorded(record: int) -> int:
    """The size the lock file records (its length)."""
    return os.fstat(record).st_size


def _record(record: int, size: int) -> None:
    """The mirror's size as its lock file's length (a sparse file: no data is written),
    and now as its last use."""
    os.ftruncate(record, max(1, size))
    os.utime(record)


class _Busy(Exception):
    """Another process holds the mirror."""


@contextlib.contextmanager
def _locked(path: Path, *, timeout_s: float, wait: bool) -> Iterator[int]:
    """An exclusive ``flock`` on ``path`` (created 0600, never a link) for the block;
    yields its descriptor.

    The lock files stay: removing one while another process waits on it would let a
    third lock a new file of the same name."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if not wait:
                    raise _Busy from None
                if time.monotonic() > deadline:
                    raise GitTimeout(
                        f"the mirror stayed busy for longer than {timeout_s:g} s"
                    ) from None
                time.sleep(_LOCK_POLL_S)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _read_state(folder: Path) -> _State | None:
    try:
        data = json.loads(read_private_file(folder / _STATE, limit=_MAX_STATE_BYTES) or b"")
        state = _State(
            fingerprint=str(data["fingerprint"]),
            head=str(data["head"]),
            updates=int(data["updates"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if _SHA_RE.fullmatch(state.head) else None


def _write_state(folder: Path, state: _State) -> None:
    data = json.dumps(
        {"fingerprint": state.fingerprint, "head": state.head, "updates": state.updates}
    ).encode()
    write_private_file(folder, _STATE, data)


def _drop_state(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        (folder / _STATE).unlink()
