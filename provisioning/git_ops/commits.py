"""Committing a set of file changes straight into git objects, without the work tree.

A run knows exactly what it changes: the plan's texts, by path. ``commit_files`` hands
them to one ``git fast-import`` (a commit on top of the clone's tip, with the same
author, dates and message bytes as ``commit_all``) instead of writing the files out and
having ``add`` walk and re-hash the whole work tree and ``commit`` refresh the index.
The commit is the one ``commit_all`` makes from the same files:

* a file whose bytes hash to the blob the tip already holds is no change (git's own blob
  ids from the clone's listing are compared, nothing is re-hashed from disk); no change
  at all is :class:`NothingToCommit`;
* new files are ``100644``, changed files keep their mode;
* a new path that a ``.gitignore`` of the tip ignores is left out, as ``add --all``
  leaves it out (asked of ``git check-ignore``, only when the tip has a ``.gitignore``);
* when a ``.gitattributes`` of the tip would make ``add`` convert what is written
  (``text``/``eol``/``crlf`` on text with a CR, ``ident`` on text with ``$Id``,
  ``working-tree-encoding``), the files are written out through the link-safe writer and
  committed with ``add`` and ``commit``, exactly as ``commit_all`` does;
* a path at or under what the tip records as a symlink or a submodule, under a file, or
  at a folder is refused (:class:`UnsafePath`), before anything is written;
* a commit whose tree would hold more files than ``max_repo_files`` is refused
  (:class:`GitLimitExceeded`): the clone's file budget, which the next clone of the
  pushed branch would meet, holds for what a run adds too.

The stream is built here from validated values only: paths without control characters,
a leading quote or a leading colon (pathspec magic for ``check-ignore``), contents and
the message as length-prefixed ``data`` blocks (they cannot end a block early or add a
command), an identity that ``Identity`` checked, and ``--done`` so that a cut stream
fails instead of committing half of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from provisioning.engine import fsafe
from provisioning.engine.paths import UnsafePathError
from provisioning.git_ops.process import Session, git_session, run_git
from provisioning.git_ops.refs import SHA_RE, validate_branch_name
from provisioning.git_ops.repo import commit_message, commit_work_tree
from provisioning.git_ops.types import (
    GITLINK_MODE,
    SYMLINK_MODE,
    ClonedRepo,
    GitLimitExceeded,
    GitOpsError,
    GitPolicy,
    Identity,
    InvalidInput,
    NothingToCommit,
    TreeListing,
)

# path -> new content, None to delete it
FileChanges = Mapping[str, str | bytes | None]

_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONVERTING = ("text", "eol", "crlf", "ident", "working-tree-encoding")


def commit_files(
    repo: ClonedRepo,
    changes: FileChanges,
    *,
    branch: str | None,
    message: str,
    run_id: str,
    author_name: str,
    author_email: str,
    date: datetime,
    policy: GitPolicy | None = None,
) -> str:
    """Commit ``changes`` on top of the clone's tip and return the commit id.

    The commit lands on the clone's branch (``HEAD`` follows it) and, when ``branch`` is
    given (a ``bmadweb/<project>/<run>`` name), that branch is created at it too. The
    work tree and the index are left as the clone checked them out, unless attributes
    make ``add`` convert the files (then they are written and added, see above). The
    commit is deterministic like ``commit_all``'s: the same changes on the same tip with
    the same values give the same id, and the same id ``commit_all`` gives.
    """
    policy = policy or GitPolicy()
    identity = Identity(author_name, author_email)
    body = _cleanup_whitespace(commit_message(message, run_id).decode())
    stamp = _raw_date(date)
    if branch is not None:
        validate_branch_name(branch, policy=policy)
    with git_session(policy, identity=identity, date=date) as session:
        tree = repo.tree or _listing(session, repo)
        writes, deletes = _effective(tree, changes, oid_size=len(repo.head_sha))
        if writes and _has(tree, ".gitattributes") and _converted(session, repo, writes):
            _check_file_count(tree, writes, deletes, policy)
            _write_out(repo, tree, changes)
            return commit_work_tree(session, repo.path, branch, body.encode())
        if writes and _has(tree, ".gitignore"):
            for path in _ignored(session, repo, [p for p in writes if p not in tree]):
                del writes[path]
        if not writes and not deletes:
            raise NothingToCommit("nothing to commit: the work tree has no change")
        _check_file_count(tree, writes, deletes, policy)
        author = f"{identity.name} <{identity.email}> {stamp}"
        stream = _stream(repo, branch, author, body.encode(), writes, deletes, tree)
        _, out = run_git(
            session,
            # --depth=0: no delta against the stream's previous blob, which is an
            # unrelated file (about a third of the step's CPU, docs/performance.md);
            # the push packs its own deltas for the transfer either way.
            ["fast-import", "--quiet", "--done", "--depth=0"],
            cwd=repo.path,
            step="fast-import",
            stdin=stream,
        )
    sha = out.strip()
    if not SHA_RE.match(sha):
        raise GitOpsError("git fast-import did not name the commit it made")
    return sha


def _cleanup_whitespace(text: str) -> str:
    """What ``git commit --cleanup=whitespace`` stores: trailing whitespace (space, tab,
    CR, LF) cut from every line, runs of empty lines made one, none at either end, and
    every line ending in LF (git's strbuf_stripspace without comments)."""
    lines: list[str] = []
    empties = 0
    for line in text.split("\n"):
        line = line.rstrip(" \t\r")
        if not line:
            empties += 1
            continue
        if empties and lines:
            lines.append("")
        empties = 0
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def _raw_date(date: datetime) -> str:
    """``<seconds> <+hhmm>``, the stamp commit_all gives git as ``@<seconds> <+hhmm>``."""
    if date.tzinfo is None or date.utcoffset() is None:
        raise InvalidInput("commit dates must be timezone-aware")
    offset = date.strftime("%z")
    if len(offset) != 5:
        raise InvalidInput("commit dates must have a whole-minute offset")
    return f"{int(date.timestamp())} {offset}"


def _listing(session: Session, repo: ClonedRepo) -> dict[str, tuple[str, str]]:
    _, out = run_git(session, ["ls-tree", "-r", "-z", "HEAD"], cwd=repo.path, step="ls-tree")
    tree: dict[str, tuple[str, str]] = {}
    for entry in filter(None, out.split("\0")):
        meta, _, path = entry.partition("\t")
        mode, _, oid = meta.split()
        tree[path] = (mode, oid)
    return tree


def _blob_id(data: bytes, oid_size: int) -> str:
    header = b"blob %d\0" % len(data)
    algorithm = hashlib.sha256 if oid_size == 64 else hashlib.sha1
    return algorithm(header + data).hexdigest()


def _check_path(path: str, tree: TreeListing, folders: set[str]) -> None:
    """Refuse what the stream must not carry and what would replace a link, a submodule,
    a file on the way or a folder (the link-safe writer refuses those on disk)."""
    if not isinstance(path, str) or path.startswith(('"', ":")):  # quoting, pathspec magic
        raise InvalidInput(f"unsafe path: {path!r}")
    if _CONTROL.search(path):
        raise InvalidInput(f"unsafe path: {path!r} has a control character")
    parts = fsafe.split_relative(path)
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        mode = tree.get(prefix, ("", ""))[0]
        if mode == SYMLINK_MODE:
            raise UnsafePathError(f"unsafe path: {prefix} is a symlink in the repository")
        if mode == GITLINK_MODE:
            raise UnsafePathError(f"unsafe path: {prefix} is a submodule in the repository")
        if mode and end < len(parts):
            raise UnsafePathError(f"unsafe path: {prefix} is not a folder")
    if path in folders:
        raise UnsafePathError(f"unsafe path: {path} is a folder")


def _folders(tree: TreeListing) -> set[str]:
    folders: set[str] = set()
    for path in tree:
        parent = path.rpartition("/")[0]
        while parent and parent not in folders:
            folders.add(parent)
            parent = parent.rpartition("/")[0]
    return folders


def _effective(
    tree: TreeListing, changes: FileChanges, *, oid_size: int
) -> tuple[dict[str, bytes], list[str]]:
    """The writes whose bytes differ from the tip's blob and the deletes of files the tip
    has, every path checked first."""
    folders = _folders(tree)
    for path in changes:
        _check_path(path, tree, folders)
    writes: dict[str, bytes] = {}
    deletes: list[str] = []
    for path, content in changes.items():
        known = tree.get(path)
        if content is None:
            if known is not None:
                deletes.append(path)
            continue
        data = content.encode() if isinstance(content, str) else content
        if known is None or known[1] != _blob_id(data, oid_size):
            writes[path] = data
    return writes, deletes


def _check_file_count(
    tree: TreeListing, writes: Mapping[str, bytes], deletes: Sequence[str], policy: GitPolicy
) -> None:
    """Refuse a commit whose tree would hold more entries than the clone's file budget
    (counted as the clone counts them: every path ``ls-tree -r`` lists)."""
    files = len(tree) + sum(1 for path in writes if path not in tree) - len(deletes)
    if files > policy.max_repo_files:
        raise GitLimitExceeded(
            f"limit exceeded: the commit would hold {files} files, "
            f"more than the {policy.max_repo_files} allowed"
        )


def _has(tree: TreeListing, name: str) -> bool:
    return any(path == name or path.endswith(f"/{name}") for path in tree)


def _nul_list(paths: Iterable[str]) -> bytes:
    return b"".join(path.encode() + b"\0" for path in paths)


def _converted(session: Session, repo: ClonedRepo, writes: Mapping[str, bytes]) -> bool:
    """Whether ``add`` would change any of these bytes on the way in (attributes)."""
    _, out = run_git(
        session,
        ["check-attr", "-z", "--stdin", *_CONVERTING],
        cwd=repo.path,
        step="check-attr",
        stdin=_nul_list(writes),
    )
    fields = out.split("\0")
    for index in range(0, len(fields) - 2, 3):
        path, attribute, value = fields[index : index + 3]
        if value in ("unspecified", "unset"):
            continue
        data = writes[path]
        if attribute == "working-tree-encoding":
            return True
        if attribute == "ident" and b"$Id" in data:
            return True
        if attribute in ("text", "eol", "crlf") and b"\r" in data:
            return True  # add only ever turns CRLF into LF
    return False


def _ignored(session: Session, repo: ClonedRepo, new_paths: Sequence[str]) -> list[str]:
    """The new paths a .gitignore ignores (``add --all`` leaves them out)."""
    if not new_paths:
        return []
    status, out = run_git(
        session,
        ["check-ignore", "-z", "--stdin"],
        cwd=repo.path,
        step="check-ignore",
        stdin=_nul_list(new_paths),
        ok_codes=(0, 1),
        # check-ignore takes paths, not pathspecs, and refuses the literal pathspec magic.
        env_update={"GIT_LITERAL_PATHSPECS": "0"},
    )
    return [path for path in out.split("\0") if path] if status == 0 else []


def _write_out(repo: ClonedRepo, tree: TreeListing, changes: FileChanges) -> None:
    """Write the changes into the work tree, link-safe (the path ``add`` must see), with
    the symlinks of the listing the paths were checked against."""
    links = frozenset(path for path, (mode, _) in tree.items() if mode == SYMLINK_MODE)
    with fsafe.SafeTree(repo.path, tracked_symlinks=links) as out:
        for path in changes:
            out.check(path)
        for path, content in changes.items():
            if content is None:
                out.delete(path)
            else:
                out.write(path, content)


def _stream(
    repo: ClonedRepo,
    branch: str | None,
    author: str,
    body: bytes,
    writes: Mapping[str, bytes],
    deletes: Sequence[str],
    tree: TreeListing,
) -> bytes:
    parts = [
        f"commit refs/heads/{repo.branch}\nmark :1\n".encode(),
        f"author {author}\ncommitter {author}\n".encode(),
        b"data %d\n" % len(body),
        body,
        f"\nfrom {repo.head_sha}\n".encode(),
    ]
    for path in deletes:
        parts.append(f"D {path}\n".encode())
    for path, data in writes.items():
        mode = tree[path][0] if path in tree else "100644"
        parts += [f"M {mode} inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]
    parts.append(b"\n")
    if branch is not None:
        parts.append(f"reset refs/heads/{branch}\nfrom :1\n\n".encode())
    parts.append(b"get-mark :1\ndone\n")
    return b"".join(parts)
