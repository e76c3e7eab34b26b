"""Writing and deleting repository files without following symlinks (SECURITY.md §6).

Each parent folder is opened relative to the previous one with O_NOFOLLOW|O_DIRECTORY,
so a symlink anywhere on the way - even one swapped in after a check - makes the
operation fail instead of writing outside the repository or under `.git`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from provisioning.engine.paths import UnsafePathError, safe_join

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@contextlib.contextmanager
def _parent_fd(root: Path, rel: str, *, create: bool) -> Iterator[int | None]:
    """A descriptor of rel's parent folder, or None when it is absent and not created."""
    safe_join(root, rel)
    fd = os.open(root.resolve(), _DIR_FLAGS)
    try:
        for part in rel.split("/")[:-1]:
            try:
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    yield None
                    return
                os.mkdir(part, 0o755, dir_fd=fd)
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise UnsafePathError(
                    f"unsafe path {rel!r}: {part!r} is not a real folder"
                ) from exc
            os.close(fd)
            fd = next_fd
        yield fd
    finally:
        os.close(fd)


def _existing_mode(fd: int, name: str) -> int | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None


def check_writable(root: Path, rel: str) -> None:
    """Raise UnsafePathError unless `rel` can be written or deleted without a symlink."""
    with _parent_fd(root, rel, create=False) as fd:
        if fd is None:
            return
        mode = _existing_mode(fd, rel.rsplit("/", 1)[-1])
        if mode is not None and not stat.S_ISREG(mode):
            raise UnsafePathError(f"unsafe path {rel!r}: not a regular file (symlink?)")


def write_file(root: Path, rel: str, text: str) -> None:
    """Create or replace `rel` with `text` (UTF-8), creating parent folders."""
    name = rel.rsplit("/", 1)[-1]
    with _parent_fd(root, rel, create=True) as fd:
        assert fd is not None
        try:
            file_fd = os.open(name, _FILE_FLAGS, 0o644, dir_fd=fd)
        except OSError as exc:
            raise UnsafePathError(
                f"unsafe path {rel!r}: cannot open without following links"
            ) from exc
        with os.fdopen(file_fd, "wb") as handle:
            handle.write(text.encode("utf-8"))


def delete_file(root: Path, rel: str) -> None:
    """Delete the regular file `rel`; a symlink or folder there is refused."""
    name = rel.rsplit("/", 1)[-1]
    with _parent_fd(root, rel, create=False) as fd:
        if fd is None:
            return
        mode = _existing_mode(fd, name)
        if mode is None:
            return
        if not stat.S_ISREG(mode):
            raise UnsafePathError(f"unsafe path {rel!r}: not a regular file (symlink?)")
        os.unlink(name, dir_fd=fd)
