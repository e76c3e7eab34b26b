"""Writing and deleting files inside a clone without ever leaving it (docs/security.md#s6).

A cloned repository is attacker-shaped: it may hold symlinks to anywhere, hard links,
FIFOs, or paths that other systems read as ``.git``. Every component of a target path is
opened relative to its parent with ``O_NOFOLLOW`` (no check-then-use gap), so a link
anywhere on the way - even one swapped in after a check - is refused rather than
followed; ``..``, absolute paths and anything under ``.git`` (in any case or Windows
spelling) are refused before touching the disk.

``tracked_symlinks`` are the paths git records as symlinks: under ``core.symlinks=false``
they are checked out as plain files, and writing one would commit a symlink whose target
is the new content. The caller that knows git (:mod:`provisioning.git_ops`) lists them.

``write_file``, ``delete_file`` and ``check_writable`` are the engine's entry points and
also apply :func:`~provisioning.engine.paths.safe_join`'s portable-name rules;
``write_path`` and ``delete_path`` accept any relative path that stays inside the root.

:class:`SafeTree` does the same for many paths at once (a plan): it applies the same
rules and refusals, but opens each folder on the way once, ``O_NOFOLLOW`` relative to
its parent, and keeps the descriptor for the next path under it. A folder reached that
way cannot be a link or lead outside the root, so the per-path ``realpath`` checks of
the single-path functions are not repeated for every file.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Collection
from pathlib import Path

from provisioning.engine.paths import UnsafePathError, relpath_problem, safe_join

StrPath = str | os.PathLike[str]

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def check_writable(root: Path, rel: str, *, tracked_symlinks: Collection[str] = ()) -> None:
    """Raise UnsafePathError unless `rel` can be written or deleted without a link."""
    safe_join(root, rel)
    parts = split_relative(rel)
    _refuse_tracked(parts, tracked_symlinks)
    parent = _open_parents(Path(os.path.realpath(root)), parts, create=False)
    if parent is None:
        return
    try:
        _plain_or_absent(parent, parts[-1], rel)
    finally:
        os.close(parent)


def write_file(root: Path, rel: str, text: str, *, tracked_symlinks: Collection[str] = ()) -> None:
    """Create or replace `rel` with `text` (UTF-8), creating parent folders."""
    safe_join(root, rel)
    write_path(root, rel, text, tracked_symlinks=tracked_symlinks)


def delete_file(root: Path, rel: str, *, tracked_symlinks: Collection[str] = ()) -> None:
    """Delete the regular file `rel`; a symlink or folder there is refused."""
    safe_join(root, rel)
    delete_path(root, rel, tracked_symlinks=tracked_symlinks)


def write_path(
    root: StrPath, rel: str, content: bytes | str, *, tracked_symlinks: Collection[str] = ()
) -> Path:
    """Write ``content`` to ``root/rel``, creating missing folders; return the path.

    Refused with :class:`UnsafePathError`: symlinks on the way or at the target, targets
    that are not plain files or are hard-linked elsewhere, ``rel`` or one of its parents
    in ``tracked_symlinks``, and every shape :func:`split_relative` refuses.
    """
    parts = split_relative(rel)
    root_path = Path(os.path.realpath(root))
    _refuse_tracked(parts, tracked_symlinks)
    data = content.encode() if isinstance(content, str) else content
    parent = _open_parents(root_path, parts, create=True)
    assert parent is not None
    try:
        _write_leaf(parent, parts[-1], data, rel)
    finally:
        os.close(parent)
    target = root_path.joinpath(*parts)
    _assert_inside(root_path, target, rel)
    return target


def delete_path(root: StrPath, rel: str, *, tracked_symlinks: Collection[str] = ()) -> bool:
    """Delete the plain file ``root/rel``; False if it was not there. A symlink at
    ``rel`` is refused, not removed."""
    parts = split_relative(rel)
    _refuse_tracked(parts, tracked_symlinks)
    parent = _open_parents(Path(os.path.realpath(root)), parts, create=False)
    if parent is None:
        return False
    try:
        try:
            info = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"unsafe path: {rel} is not a regular file")
        os.unlink(parts[-1], dir_fd=parent)
        return True
    finally:
        os.close(parent)


def _refuse_tracked(parts: list[str], tracked_symlinks: Collection[str]) -> None:
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        if prefix in tracked_symlinks:
            raise UnsafePathError(f"unsafe path: {prefix} is a symlink in the repository")


def split_relative(rel: str) -> list[str]:
    """The parts of a relative path, refusing absolute, empty, ``.``/``..`` and .git ones."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise UnsafePathError(f"unsafe path: {rel!r}")
    if rel.startswith("/"):
        raise UnsafePathError(f"unsafe path: {rel} is absolute")
    parts = rel.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(f"unsafe path: {rel} has an empty, '.' or '..' part")
        # Windows checkouts read ".GIT", ".git." and "git~1" as the .git folder too.
        if part.casefold().rstrip(". ") in (".git", "git~1"):
            raise UnsafePathError(f"unsafe path: {rel} is under .git")
    return parts


def _open_parents(root: Path, parts: list[str], *, create: bool) -> int | None:
    """A descriptor of ``rel``'s parent folder, reached without following any link;
    None when a folder on the way is missing and ``create`` is false."""
    fd = os.open(root, _O_DIR)
    try:
        for index, name in enumerate(parts[:-1]):
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                os.close(fd)
                return None
            shown = "/".join(parts[: index + 1])
            if stat.S_ISLNK(info.st_mode):
                raise UnsafePathError(f"unsafe path: {shown} is a symlink")
            if not stat.S_ISDIR(info.st_mode):
                raise UnsafePathError(f"unsafe path: {shown} is not a folder")
            child = os.open(name, _O_DIR, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return fd


def _plain_or_absent(parent: int, name: str, rel: str) -> None:
    try:
        before = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(before.st_mode) or before.st_nlink > 1:
        raise UnsafePathError(f"unsafe path: {rel} is a symlink or not a plain file")


def _write_leaf(parent: int, name: str, data: bytes, rel: str) -> None:
    _plain_or_absent(parent, name, rel)
    # O_NONBLOCK: opening a FIFO planted in the race window fails instead of hanging.
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(name, flags, 0o644, dir_fd=parent)
    except OSError as exc:
        raise UnsafePathError(f"unsafe path: {rel} cannot be opened safely") from exc
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or opened.st_nlink > 1:
            raise UnsafePathError(f"unsafe path: {rel} is not a plain file")
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _assert_inside(root: Path, target: Path, rel: str) -> None:
    resolved = Path(os.path.realpath(target))
    if resolved != root and root not in resolved.parents:
        raise UnsafePathError(f"unsafe path: {rel} resolves outside the clone")


class SafeTree:
    """Link-safe checks, writes and deletes of many paths under one root.

    Every path gets the refusals of :func:`check_writable`, :func:`write_file` and
    :func:`delete_file` (portable names, ``.git`` in any spelling, ``tracked_symlinks``,
    links, non-regular and hard-linked targets), with each folder opened once,
    ``O_NOFOLLOW`` relative to its already opened parent, and reused for the files
    under it. Use as a context manager: the descriptors are closed on exit.
    """

    def __init__(self, root: StrPath, *, tracked_symlinks: Collection[str] = ()) -> None:
        self.root = Path(os.path.realpath(root))
        self.tracked = tracked_symlinks
        self._fds: dict[str, int] = {}

    def __enter__(self) -> SafeTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def _parts(self, rel: str) -> list[str]:
        problem = relpath_problem(rel)
        if problem:
            raise UnsafePathError(f"unsafe path {rel!r}: {problem}")
        parts = split_relative(rel)
        _refuse_tracked(parts, self.tracked)
        return parts

    def _folder(self, parts: list[str], *, create: bool) -> int | None:
        """The descriptor of the folder holding ``parts[-1]``; None when a folder on the
        way is missing and ``create`` is false."""
        if "" not in self._fds:
            self._fds[""] = os.open(self.root, _O_DIR)
        fd = self._fds[""]
        for index, name in enumerate(parts[:-1]):
            shown = "/".join(parts[: index + 1])
            known = self._fds.get(shown)
            if known is not None:
                fd = known
                continue
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
            if stat.S_ISLNK(info.st_mode):
                raise UnsafePathError(f"unsafe path: {shown} is a symlink")
            if not stat.S_ISDIR(info.st_mode):
                raise UnsafePathError(f"unsafe path: {shown} is not a folder")
            fd = self._fds[shown] = os.open(name, _O_DIR, dir_fd=fd)
        return fd

    def check(self, rel: str) -> None:
        """Raise UnsafePathError unless ``rel`` can be written or deleted without a link."""
        parts = self._parts(rel)
        parent = self._folder(parts, create=False)
        if parent is not None:
            _plain_or_absent(parent, parts[-1], rel)

    def write(self, rel: str, content: bytes | str) -> None:
        """Create or replace ``rel`` (text is written as UTF-8), creating its folders."""
        parts = self._parts(rel)
        parent = self._folder(parts, create=True)
        assert parent is not None
        _write_leaf(
            parent, parts[-1], content.encode() if isinstance(content, str) else content, rel
        )

    def delete(self, rel: str) -> bool:
        """Delete the plain file ``rel``; False if it was not there."""
        parts = self._parts(rel)
        parent = self._folder(parts, create=False)
        if parent is None:
            return False
        try:
            info = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"unsafe path: {rel} is not a regular file")
        os.unlink(parts[-1], dir_fd=parent)
        return True
