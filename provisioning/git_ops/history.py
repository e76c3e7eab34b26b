"""Reading a clone's history: which files each commit changed, and blob contents.

Both are local, read-only steps through the door's runner (its environment, budgets and
kill): `git log --raw` limited to the given paths and commits, and `git cat-file --batch`
for the blobs asked for, under a size cap. What the history means is decided by the
engine (provisioning/engine/history.py); nothing here interprets it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from provisioning.git_ops.process import git_session, run_git
from provisioning.git_ops.refs import check_sha
from provisioning.git_ops.types import ClonedRepo, GitOpsError, GitPolicy, InvalidInput, StrPath

_SHA = re.compile(r"[0-9a-f]{40}")
_ZERO = "0" * 40
_RECORD, _FIELD = "\x1e", "\x1f"
MAX_COMMITS = 1000
MAX_BLOB_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    old_blob: str | None  # None: the file was added
    new_blob: str | None  # None: the file was deleted


@dataclass(frozen=True, slots=True)
class LoggedCommit:
    sha: str
    subject: str
    changes: tuple[FileChange, ...]


def _root(repo: StrPath | ClonedRepo) -> Path:
    return repo.path if isinstance(repo, ClonedRepo) else Path(repo)


def changed_files(
    repo: StrPath | ClonedRepo,
    paths: list[str],
    *,
    max_commits: int,
    policy: GitPolicy,
    rev: str = "HEAD",
) -> list[LoggedCommit]:
    """The last `max_commits` commits of `rev` (HEAD, or a commit id: a mirror's fetched
    tip) that changed anything under `paths`, oldest first, each with the files it
    changed there (no rename detection, merges skipped). A shallow clone simply has a
    shorter history."""
    if not 1 <= max_commits <= MAX_COMMITS:
        raise InvalidInput(f"max_commits must be between 1 and {MAX_COMMITS}")
    if not paths or any(not p or p.startswith(("-", "/")) or "\n" in p for p in paths):
        raise InvalidInput("paths must be repository-relative")
    args = [
        "log",
        "-z",
        "--raw",
        "--no-renames",
        "--no-abbrev",
        "--no-merges",
        "--no-color",
        f"--format={_RECORD}%H{_FIELD}%s",
        f"--max-count={max_commits}",
        "--reverse",
        rev if rev == "HEAD" else str(check_sha(rev)),
        "--",
        *paths,
    ]
    with git_session(policy) as session:
        _, out = run_git(session, args, cwd=_root(repo), step="log")
    return [commit for chunk in out.split(_RECORD) if (commit := _commit(chunk))]


def _commit(chunk: str) -> LoggedCommit | None:
    head, _, rest = chunk.partition("\0")
    sha, _, subject = head.partition(_FIELD)
    if not _SHA.fullmatch(sha.strip()):
        return None
    fields = rest.lstrip("\n").split("\0")
    changes: list[FileChange] = []
    for meta, path in zip(fields[::2], fields[1::2], strict=False):
        parts = meta.strip().split()
        if len(parts) < 5 or not meta.strip().startswith(":"):
            continue
        old, new = parts[2], parts[3]
        changes.append(
            FileChange(path, None if old == _ZERO else old, None if new == _ZERO else new)
        )
    return LoggedCommit(sha.strip(), subject.strip()[:200], tuple(changes))


def read_blobs(
    repo: StrPath | ClonedRepo,
    blobs: list[str],
    *,
    policy: GitPolicy,
    max_bytes: int = MAX_BLOB_BYTES,
) -> dict[str, bytes]:
    """The contents of `blobs` (full ids); missing ones are left out. Stops at `max_bytes`."""
    wanted = [b for b in dict.fromkeys(blobs) if _SHA.fullmatch(b)]
    if not wanted:
        return {}
    stdin = "".join(f"{b}\n" for b in wanted).encode()
    with git_session(policy) as session:
        _, out = run_git(
            session, ["cat-file", "--batch"], cwd=_root(repo), step="cat-file", stdin=stdin
        )
    return _parse_batch(out.encode("utf-8", "surrogateescape"), max_bytes)


def _parse_batch(data: bytes, max_bytes: int) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    at, total = 0, 0
    while at < len(data):
        end = data.find(b"\n", at)
        if end < 0:
            break
        header = data[at:end].decode("ascii", "replace").split()
        at = end + 1
        if len(header) != 3 or not header[2].isdigit():
            continue  # "<id> missing"
        size = int(header[2])
        total += size
        if total > max_bytes:
            raise GitOpsError("limit exceeded: the history to read is too large")
        if header[1] == "blob":
            found[header[0]] = data[at : at + size]
        at += size + 1
    return found
