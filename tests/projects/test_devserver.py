"""`make run`'s process supervisor: everything it starts stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True).stdout
    kids = [int(p) for p, pp in (line.split() for line in out.splitlines()[1:]) if int(pp) == pid]
    return kids + [g for k in kids for g in _children_of(k)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    )
    return status != "Z"


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="tests the embedded Redis")
def test_devserver_serves_then_stops_every_process_on_ctrl_c(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["BMADWEB_VAR_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "devserver", "--no-seed", "--addr", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # As a background job of a script: SIGINT starts out ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("devserver did not serve /login/ within 60 s")
        started = _children_of(proc.pid)
        redis_pid = int((tmp_path / "redis" / "redis.pid").read_text())
        assert len(started) >= 2
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10  # children may take a moment to be reaped
        while time.monotonic() < deadline and any(map(_alive, [*started, redis_pid])):
            time.sleep(0.1)
        assert [p for p in started if _alive(p)] == []
        assert not _alive(redis_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
