"""Work folders: one temporary folder per run, removed in finally, and a sweep for those a
killed worker left behind."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from provisioning.git_ops.types import StrPath


@contextlib.contextmanager
def temp_workdir(base: StrPath | None = None, *, prefix: str = "bmadweb-") -> Iterator[Path]:
    """A fresh 0700 directory under ``base``, removed when the block ends, however it ends."""
    if base is not None:
        Path(base).mkdir(parents=True, exist_ok=True, mode=0o700)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        remove_tree(path)


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
            remove_tree(entry)
            removed += 1
    return removed


def remove_tree(path: Path) -> None:
    def make_writable_and_retry(func: object, failed: str, _exc: BaseException) -> None:
        # Read-only directories (a test fixture, a half-written clone) block unlinking.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            if callable(func):
                func(failed)

    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onexc=make_writable_and_retry)


def write_private_file(folder: Path, name: str, data: bytes) -> None:
    """Replace ``folder/name`` with ``data`` at once (a temporary file, 0600, created
    without following links, then renamed over it): a reader sees the old file or the
    new one, never half of it."""
    tmp = folder / f".{name}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, folder / name)


def read_private_file(path: Path, *, limit: int) -> bytes | None:
    """The bytes of a file bmadweb (or git) wrote for itself, never read through a link:
    None when nothing is at ``path``. Raises ``ValueError`` for anything there that is
    not a regular file (a link, a folder, a FIFO: never waited on) and for a file longer
    than ``limit`` bytes; any other ``OSError`` is raised as it is."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise ValueError(f"{path.name} is a link") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path.name} is over {limit} bytes")
    return data
