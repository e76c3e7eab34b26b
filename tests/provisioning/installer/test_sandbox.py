"""The installer door: exact argv, an environment built from scratch, its own HOME and npm
cache, a clear refusal without Node 20, and a kill that takes the whole process group.

Node and npx are stood in for by small shell programs that record what they were given
(the real installer runs in tests/provisioning/runs/test_upgrade_real.py and
tests/provisioning/cli/test_upgrade_real.py)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from provisioning.engine.upgrade import InstallRequest
from provisioning.installer import (
    InstallerError,
    InstallerPolicy,
    InstallerTimeout,
    InstallerUnavailable,
    check_node,
    run_installer,
)

NODE_20 = "#!/bin/sh\necho v20.19.2\n"
RECORDER = """#!/bin/sh
python3 - "$@" <<'PY'
import json, os, sys
with open(os.environ["HOME"] + "/../record.json", "w") as fh:
    json.dump({"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}, fh)
PY
printf '\\033[32m✔ Installed\\033[0m\\r\\n'
"""


def program(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def bins(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    program(folder, "node", NODE_20)
    program(folder, "npx", RECORDER)
    return folder


def policy(bins: Path, **overrides: object) -> InstallerPolicy:
    values: dict[str, object] = {"npx": str(bins / "npx"), "node": str(bins / "node")}
    return InstallerPolicy(**(values | overrides))  # type: ignore[arg-type]


def request(tmp_path: Path, **overrides: object) -> InstallRequest:
    values: dict[str, object] = {
        "directory": tmp_path / "repo",
        "version": "6.12.0",
        "modules": ("core", "bmm"),
        "tools": ("claude-code", "cursor"),
        "action": "update",
    }
    return InstallRequest(**(values | overrides))  # type: ignore[arg-type]


def test_the_installer_gets_a_pinned_version_and_the_detected_modules_and_tools(
    tmp_path: Path, bins: Path
) -> None:
    sandbox = tmp_path / "sandbox"
    result = run_installer(request(tmp_path), sandbox=sandbox, policy=policy(bins))
    record = json.loads((sandbox / "record.json").read_text())
    assert record["argv"] == [
        "-y",
        "bmad-method@6.12.0",
        "install",
        "--directory",
        str(tmp_path / "repo"),
        "--modules",
        "core,bmm",
        "--tools",
        "claude-code,cursor",
        "--action",
        "update",
        "--yes",
    ]
    assert result.output.strip() == "✔ Installed"  # colours and carriage returns removed
    assert record["cwd"] == str(sandbox / "home")


def test_the_environment_is_built_from_scratch(
    tmp_path: Path, bins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker_secrets = {
        "GITHUB_TOKEN": "ghp_canary",
        "NPM_TOKEN": "npm_canary",
        "npm_config__authToken": "npm_canary2",
        "BMADWEB_FERNET_KEYS": "canary-key",
        "DJANGO_SECRET_KEY": "canary-secret",
        "NODE_OPTIONS": "--require /tmp/evil.js",
        "GIT_DIR": "/elsewhere",
        "npm_config_registry": "https://evil.invalid/",
    }
    for name, value in worker_secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    sandbox = tmp_path / "sandbox"
    run_installer(request(tmp_path), sandbox=sandbox, policy=policy(bins))
    env = json.loads((sandbox / "record.json").read_text())["env"]
    assert not set(worker_secrets) & set(env)
    assert not any("canary" in value for value in env.values())
    assert env["HOME"] == str(sandbox / "home")
    assert env["npm_config_cache"] == str(sandbox / "npm-cache")
    assert env["TMPDIR"] == str(sandbox / "tmp")
    assert env["npm_config_userconfig"].startswith(str(sandbox))
    assert env["HTTPS_PROXY"] == "http://proxy.internal:3128"  # an operator setting passes
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null"
    assert (sandbox / "npm-cache").is_dir()


def test_an_operator_registry_is_the_only_registry(tmp_path: Path, bins: Path) -> None:
    sandbox = tmp_path / "sandbox"
    mirror = "https://npm.mirror.internal/"
    run_installer(request(tmp_path), sandbox=sandbox, policy=policy(bins, registry=mirror))
    env = json.loads((sandbox / "record.json").read_text())["env"]
    assert env["npm_config_registry"] == mirror


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", "latest"),
        ("version", "6.12.0 --custom-source=https://evil.invalid"),
        ("version", "^6.12.0"),
        ("version", "6.12"),
        ("modules", ("bmm,evil",)),
        ("modules", ("--yes",)),
        ("tools", ("claude-code", "../x")),
        ("action", "uninstall"),
    ],
)
def test_anything_that_is_not_an_exact_version_or_a_plain_name_is_refused(
    tmp_path: Path, bins: Path, field: str, value: object
) -> None:
    sandbox = tmp_path / "sandbox"
    with pytest.raises(InstallerError):
        run_installer(request(tmp_path, **{field: value}), sandbox=sandbox, policy=policy(bins))
    assert not (sandbox / "record.json").exists()


def test_a_worker_without_node_20_gets_a_plain_refusal(tmp_path: Path, bins: Path) -> None:
    program(bins, "node", "#!/bin/sh\necho v18.19.1\n")
    with pytest.raises(InstallerUnavailable, match=r"upgrade runs need node ≥ 20.*18\.19\.1"):
        run_installer(request(tmp_path), sandbox=tmp_path / "s", policy=policy(bins))
    missing = policy(bins, node=str(tmp_path / "no-such-node"))
    with pytest.raises(InstallerUnavailable, match=r"need node ≥ 20.*node is not installed"):
        check_node(tmp_path / "s", missing)
    assert check_node(tmp_path / "s", policy(program(bins, "node", NODE_20).parent)) == "20.19.2"


def test_a_failing_installer_says_how_it_ended(tmp_path: Path, bins: Path) -> None:
    program(bins, "npx", "#!/bin/sh\necho 'npm error 404 bmad-method@6.99.0'\nexit 3\n")
    with pytest.raises(InstallerError, match=r"failed \(exit 3\): npm error 404"):
        run_installer(request(tmp_path), sandbox=tmp_path / "s", policy=policy(bins))


def test_the_time_budget_kills_the_whole_process_group(tmp_path: Path, bins: Path) -> None:
    pids = tmp_path / "pids"
    program(
        bins,
        "npx",
        f"#!/bin/sh\nsleep 60 &\necho $! > {pids}\nsleep 60\n",
    )
    started = time.monotonic()
    with pytest.raises(InstallerTimeout, match="longer than 1 s"):
        run_installer(request(tmp_path), sandbox=tmp_path / "s", policy=policy(bins, timeout_s=1))
    assert time.monotonic() - started < 15
    grandchild = int(pids.read_text())
    for _ in range(50):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("the installer's child outlived the time budget")
