"""Real BMAD installs and packages, made with the official installer from the npm registry.

Nothing the installer writes is committed. Each (version, flags) install and each
unpacked package is made once and kept in a cache folder shared by every test process of
a run and by the next run (`var/test-cache/bmad`, or BMADWEB_BMAD_CACHE): pytest-xdist
workers wait on a file lock instead of installing twice, and CI's second pass reuses the
first pass's installs. Tests copy an install before they change it.

Without npx, or when an install fails, the caller gets a skip with the reason; with
BMADWEB_REQUIRE_ALL=1 (CI) it gets a failure instead, so a CI that could not run the
real-installer tests is red.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from tests.skips import skip_or_fail, skips_are_failures

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300
V6_FLAGS = ("--modules", "bmm", "--tools", "claude-code,cursor", "--yes", "--user-name", "Tester")
V4_FLAGS = ("--full", "--ide", "claude-code", "cursor")


def cache_dir() -> Path:
    base = Path(os.environ.get("BMADWEB_BMAD_CACHE") or ROOT / "var" / "test-cache" / "bmad")
    base.mkdir(parents=True, exist_ok=True)
    return base


# Whether every test must run (BMADWEB_REQUIRE_ALL=1): the rule of tests/skips.py.
required = skips_are_failures


def unavailable(reason: str) -> NoReturn:
    """Skip (or, where every test must run, fail) with `reason`."""
    skip_or_fail(reason)


@contextmanager
def _locked(name: str) -> Iterator[None]:
    with (cache_dir() / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def npm_env() -> dict[str, str]:
    env = {**os.environ, "CI": "1"}
    env.setdefault("npm_config_cache", str(cache_dir() / "npm-cache"))
    env.pop("NODE_OPTIONS", None)
    return env


def _npx_or_skip() -> None:
    if shutil.which("npx") is None or shutil.which("npm") is None:
        unavailable("npx is not installed")


def install(version: str, flags: Sequence[str] = V6_FLAGS) -> Path:
    """The folder of a real install of bmad-method@`version` (shared: copy before editing)."""
    _npx_or_skip()
    key = hashlib.sha256(" ".join((version, *flags)).encode()).hexdigest()[:10]
    name = f"install-{version}-{key}"
    target = cache_dir() / name
    with _locked(name):
        if (target / ".complete").exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(target)], check=False, timeout=30)
        cmd = ["npx", "-y", f"bmad-method@{version}", "install", "--directory", str(target)]
        try:
            proc = subprocess.run(
                [*cmd, *flags],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                env=npm_env(),
                check=False,
            )
        except (subprocess.TimeoutExpired, OSError) as exc:
            unavailable(f"bmad-method@{version} install did not finish: {exc}")
        if proc.returncode != 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            unavailable(f"bmad-method@{version} install failed ({proc.returncode}): {tail}")
        shutil.rmtree(target / ".git", ignore_errors=True)
        (target / ".complete").touch()
    return target


def package(version: str) -> Path:
    """The unpacked npm package bmad-method@`version` (its tools/ hold BMAD's validators)."""
    _npx_or_skip()
    name = f"package-{version}"
    target = cache_dir() / name
    with _locked(name):
        if (target / ".complete").exists():
            return target / "package"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        proc = subprocess.run(
            ["npm", "pack", f"bmad-method@{version}", "--silent"],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=npm_env(),
            check=False,
        )
        tarballs = list(target.glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            unavailable(f"npm pack bmad-method@{version} failed: {proc.stderr.strip()[-300:]}")
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(target, filter="data")
        (target / ".complete").touch()
    return target / "package"


def copy_of(source: Path, dest: Path) -> Path:
    """A private copy of a shared install, for a test that changes it."""
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns(".complete"))
    return dest
