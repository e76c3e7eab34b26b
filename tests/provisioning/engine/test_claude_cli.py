"""Claude Code's own CLI reads the `.mcp.json` bmadweb writes (from the npm registry at
test time, like the real BMAD installs: skipped without npx, a failure under
BMADWEB_REQUIRE_ALL=1). `claude mcp list` and `claude doctor` validate every server
entry and report what they cannot use; they never connect to servers nobody approved."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import realbmad
from tests.provisioning.engine.test_mcp_provisioning import (
    MCP,
    manifest_data,
    provision,
    repository,
)

pytestmark = pytest.mark.npx

CLAUDE_CODE = "@anthropic-ai/claude-code@2.1.332"


def claude(root: Path, home: Path, *args: str) -> str:
    if not shutil.which("npx"):
        realbmad.unavailable("npx is not installed")
    home.mkdir(exist_ok=True)
    env = {
        **realbmad.npm_env(),
        "HOME": str(home),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "GITHUB_TOKEN": "set-in-ci",
        "SENTRY_TOKEN": "set-in-ci",
    }
    env.pop("ANTHROPIC_API_KEY", None)
    try:
        done = subprocess.run(
            ["npx", "-y", CLAUDE_CODE, *args],
            cwd=root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=realbmad.TIMEOUT_S,
            env=env,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        realbmad.unavailable(f"{CLAUDE_CODE} did not run: {exc}")
    if done.returncode != 0:
        realbmad.unavailable(f"{CLAUDE_CODE} {' '.join(args)} failed: {done.stderr[-300:]}")
    return done.stdout


def test_claude_code_reads_every_server_of_the_generated_mcp_json(tmp_path: Path) -> None:
    root = repository(tmp_path)
    provision(root, manifest_data())
    listed = claude(root, tmp_path / "home", "mcp", "list")
    for name in ("linear", "github", "sentry"):
        assert f"{name}:" in listed
    assert "[Warning]" not in listed
    assert "[Error]" not in listed
    github = claude(root, tmp_path / "home", "mcp", "get", "github")
    assert "Type: stdio" in github
    assert "Command: npx" in github
    assert "GITHUB_PERSONAL_ACCESS_TOKEN=${GITHUB_TOKEN}" in github
    sentry = claude(root, tmp_path / "home", "mcp", "get", "sentry")
    assert "Type: http" in sentry
    assert "Authorization: Bearer ${SENTRY_TOKEN}" in sentry
    doctor = claude(root, tmp_path / "home", "doctor")
    assert ".mcp.json" not in doctor  # no invalid setting in it


def test_the_cli_check_would_see_a_broken_entry(tmp_path: Path) -> None:
    root = repository(tmp_path)
    provision(root, manifest_data())
    data = json.loads((root / MCP).read_text())
    data["mcpServers"]["sentry"].pop("url")
    (root / MCP).write_text(json.dumps(data, indent=2))
    listed = claude(root, tmp_path / "home", "mcp", "list")
    assert "[Warning]" in listed
    assert "sentry" in listed
