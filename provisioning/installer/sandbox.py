"""Run BMAD's official installer in a sandbox: a scrubbed environment, its own HOME and
npm cache, a time budget and a process-group kill (docs/security.md#installer)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess  # the installer door: the only place that starts npx and node
import time
from dataclasses import dataclass
from pathlib import Path

from provisioning.engine.upgrade import InstallRequest

MIN_NODE_MAJOR = 20
_VERSION_RE = re.compile(r"\d{1,4}\.\d{1,4}\.\d{1,4}(?:-[0-9A-Za-z][0-9A-Za-z.]{0,30})?")
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\r")
_NODE_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
_ACTIONS = ("install", "update", "quick-update")

# Operator settings the installer may need to reach the registry (an outgoing proxy, a
# private CA); nothing else of the worker's environment gets through.
_PASSED_THROUGH = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
)


class InstallerError(Exception):
    """The installer could not run or failed; the message is plain and safe to show."""


class InstallerUnavailable(InstallerError):
    """Node or npx is missing, or too old."""


class InstallerTimeout(InstallerError):
    """The installer ran past its time budget and was killed with its process group."""


@dataclass(frozen=True, slots=True)
class InstallerPolicy:
    """Operator settings for every installer run (built from Django settings by callers)."""

    timeout_s: float = 300.0
    npx: str = "npx"
    node: str = "node"
    registry: str = ""  # an npm registry URL; empty: npm's default
    max_output_chars: int = 200_000

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.max_output_chars <= 0:
            raise ValueError("timeout_s and max_output_chars must be positive")
        for program in (self.npx, self.node):
            if not program or program.startswith("-"):
                raise ValueError("npx and node must be program names or paths")


@dataclass(frozen=True, slots=True)
class InstallerResult:
    argv: tuple[str, ...]
    output: str  # stdout and stderr together, colour codes removed, the tail if long
    seconds: float


def installer_env(sandbox: Path, policy: InstallerPolicy) -> dict[str, str]:
    """The complete environment of the installer, built from scratch: of the worker's own
    environment only PATH and the proxy and CA settings pass."""
    home = sandbox / "home"
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env |= {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "USERPROFILE": str(home),
        "TMPDIR": str(sandbox / "tmp"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "CI": "1",
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
        "npm_config_cache": str(sandbox / "npm-cache"),
        "npm_config_userconfig": str(home / ".npmrc"),
        "npm_config_globalconfig": str(home / ".npmrc-global"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "npm_config_yes": "true",
        "npm_config_loglevel": "warn",
        # The installer clones external modules with git: no system or user config, no prompts.
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
    }
    if policy.registry:
        env["npm_config_registry"] = policy.registry
    return env


def _prepare(sandbox: Path) -> None:
    for sub in ("home", "tmp", "npm-cache"):
        (sandbox / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in (".npmrc", ".npmrc-global"):
        (sandbox / "home" / name).touch(mode=0o600)


def check_node(sandbox: Path, policy: InstallerPolicy) -> str:
    """Node's version (e.g. "20.19.2"); InstallerUnavailable when node or npx is missing or
    older than MIN_NODE_MAJOR."""
    _prepare(sandbox)
    env = installer_env(sandbox, policy)
    need = f"upgrade runs need node ≥ {MIN_NODE_MAJOR} and npx"
    node = shutil.which(policy.node, path=env["PATH"])
    if node is None or shutil.which(policy.npx, path=env["PATH"]) is None:
        missing = "node" if node is None else "npx"
        raise InstallerUnavailable(f"{need}: {missing} is not installed on this worker")
    output, code, _ = _run([node, "--version"], env=env, cwd=sandbox / "home", timeout_s=20)
    found = _NODE_VERSION_RE.search(output)
    if code != 0 or found is None:
        raise InstallerUnavailable(f"{need}: `node --version` did not answer")
    version = ".".join(found.groups())
    if int(found.group(1)) < MIN_NODE_MAJOR:
        raise InstallerUnavailable(f"{need}: this worker has node {version}")
    return version


def installer_argv(request: InstallRequest, policy: InstallerPolicy) -> list[str]:
    """The literal command: the package pinned to an exact version, names checked."""
    if not _VERSION_RE.fullmatch(request.version):
        raise InstallerError(f"{request.version!r} is not an exact BMAD version such as 6.12.0")
    names = [*request.modules, *request.tools]
    bad = [n for n in names if not _NAME_RE.fullmatch(n)]
    if bad:
        raise InstallerError(f"not a BMAD module or tool name: {bad[0]!r}")
    if request.action is not None and request.action not in _ACTIONS:
        raise InstallerError(f"unknown installer action {request.action!r}")
    argv = [policy.npx, "-y", f"bmad-method@{request.version}", "install"]
    argv += ["--directory", str(Path(request.directory).absolute())]
    if request.modules:
        argv += ["--modules", ",".join(request.modules)]
    if request.tools:
        argv += ["--tools", ",".join(request.tools)]
    if request.action is not None:
        argv += ["--action", request.action]
    return [*argv, "--yes"]


def run_installer(
    request: InstallRequest, *, sandbox: Path, policy: InstallerPolicy
) -> InstallerResult:
    """Run the installer for `request` with `sandbox` (a private folder the caller owns
    and removes) as its HOME, temporary folder and npm cache."""
    argv = installer_argv(request, policy)
    check_node(sandbox, policy)
    env = installer_env(sandbox, policy)
    started = time.monotonic()
    output, code, timed_out = _run(argv, env=env, cwd=sandbox / "home", timeout_s=policy.timeout_s)
    output = _tail(output, policy.max_output_chars)
    seconds = time.monotonic() - started
    if timed_out:
        raise InstallerTimeout(
            f"the BMAD installer took longer than {policy.timeout_s:g} s and was stopped"
        )
    if code != 0:
        last = " | ".join(output.strip().splitlines()[-3:])
        raise InstallerError(f"the BMAD installer failed (exit {code}): {last}")
    return InstallerResult(tuple(argv), output, seconds)


def _run(
    argv: list[str], *, env: dict[str, str], cwd: Path, timeout_s: float
) -> tuple[str, int, bool]:
    """(output, exit status, timed out) of one process in a session of its own."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group: the kill below takes it all
        )
    except OSError as exc:
        raise InstallerUnavailable(f"could not start {argv[0]}: {exc.strerror}") from None
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return "", -signal.SIGKILL, True
    except BaseException:
        _kill_group(proc)
        raise
    return _clean(out), proc.returncode, False


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the installer's whole process group (npm, node, git), then reap the leader.
    Only called while the leader is not yet reaped, so its pid is still the group's."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        if proc.stdout is not None:  # a grandchild that left the group holds the pipe
            proc.stdout.close()
        proc.wait()


def _clean(data: bytes) -> str:
    return _ANSI_RE.sub("", data.decode("utf-8", "replace"))


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]
