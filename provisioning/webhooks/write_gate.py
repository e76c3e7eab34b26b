"""A write gate for SQLite: hot write paths queue on a file lock, not on SQLite's sleeps.

Used by the webhook receiver, whose deliveries arrive in bursts on several threads and
processes at once.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

_gate = threading.local()


def _gate_path() -> str | None:
    name = str(connection.settings_dict.get("NAME") or "")
    if connection.vendor != "sqlite" or not name or "memory" in name or name.startswith(":"):
        return None
    # Never the database file or its -wal/-shm: closing any descriptor of those would drop
    # SQLite's own POSIX locks. A file per database in the temporary folder instead.
    digest = hashlib.sha256(os.path.abspath(name).encode()).hexdigest()[:20]
    return os.path.join(tempfile.gettempdir(), f"bmadweb-write-gate-{digest}")


@contextmanager
def write_gate() -> Iterator[None]:
    """On SQLite, webhook writers queue on a file lock before they open their transaction.

    SQLite lets one writer in at a time and makes the others poll with growing sleeps (up
    to 100 ms per try), so a burst of deliveries on several threads and processes turned
    into seconds of latency for the unlucky ones. A blocking flock wakes the next writer
    as soon as the lock is free. It is only an optimisation: SQLite still enforces one
    writer, so processes that do not share the gate stay correct. PostgreSQL needs none
    of this.
    """
    path = _gate_path()
    if path is None or getattr(_gate, "held", False):
        yield
        return
    with open(path, "ab") as handle:  # closing the file releases the lock
        fcntl.flock(handle, fcntl.LOCK_EX)
        _gate.held = True
        try:
            yield
        finally:
            _gate.held = False


def write_transaction[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """`transaction.atomic` for a hot write path, entered through the SQLite write gate."""
    atomic = transaction.atomic(func)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with write_gate():
            return atomic(*args, **kwargs)

    return wrapper
