"""`bmadweb upgrade --path DIR --to VERSION [--manifest FILE]` and `manage.py bmad upgrade`:
the installer (a stand-in started through the installer door) updates the working tree,
bmadweb writes its part, nothing is committed. The real installer runs in
tests/provisioning/cli/test_upgrade_real.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from provisioning.demo.bmad_installs import DEMO_MANIFEST, build_v60
from provisioning.demo.install_parts import add_orphaned_customize_yaml
from provisioning.models import Run, RunKind, RunStatus
from tests.provisioning.cli.cli_helpers import bmad
from tests.provisioning.installer.fakes import calls, fake_installer
from tests.repos import git

SCRIPT = Path(sys.executable).parent / "bmadweb"


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A team's clone of a BMAD 6.0.4 install with a customized PM agent, committed."""
    root = tmp_path / "team-repo"
    build_v60(root)
    add_orphaned_customize_yaml(root)
    (root / "bmadweb.yaml").write_text(DEMO_MANIFEST, encoding="utf-8")
    git("init", "--quiet", "--initial-branch", "main", cwd=root)
    git("add", "--all", cwd=root)
    git("commit", "--quiet", "--message", "BMAD 6.0.4", cwd=root)
    return root


@pytest.fixture
def bins(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    log = fake_installer(tmp_path / "bin")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env |= {
        "BMADWEB_NPX": str(tmp_path / "bin" / "npx"),
        "BMADWEB_NODE": str(tmp_path / "bin" / "node"),
    }
    return log, env


def script(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_upgrade_writes_the_working_tree_and_never_commits(legacy, bins) -> None:  # type: ignore[no-untyped-def]
    log, env = bins
    head = git("rev-parse", "HEAD", cwd=legacy)
    code, out, err = script(
        legacy, env, "upgrade", "--to", "6.12.0", "--manifest", "bmadweb.yaml", "--format", "json"
    )
    assert code == 0, out + err
    data = json.loads(out)
    assert data["status"] == "in_sync"
    assert data["bmad"]["version"] == "6.12.0"
    assert (data["upgrade"]["from"], data["upgrade"]["to"]) == ("6.0.4", "6.12.0")
    assert "_bmad/_config/agents/bmm-pm.customize.yaml" in data["applied"]["deleted"]
    agent = tomllib.loads((legacy / "_bmad/custom/bmad-agent-pm.toml").read_text())["agent"]
    assert agent["role"] == "Team PM"
    assert not (legacy / ".claude/commands/bmad-agent-bmm-pm.md").exists()
    assert git("rev-parse", "HEAD", cwd=legacy) == head  # nothing committed
    assert git("status", "--porcelain", cwd=legacy)  # but the tree changed
    (call,) = calls(log)
    assert call["argv"][1] == "bmad-method@6.12.0"
    assert str(call["home"]).startswith("/")  # its own HOME, in a sandbox folder
    assert not Path(str(call["home"])).exists()  # removed afterwards


def test_upgrade_without_a_manifest_migrates_and_says_what_it_did(legacy, bins) -> None:  # type: ignore[no-untyped-def]
    _, env = bins
    code, out, err = script(legacy, env, "upgrade", "--to", "6.12.0")
    assert code == 0, out + err
    assert "BMAD 6.0.4 -> 6.12.0" in out
    assert "_bmad/_config/agents/bmm-pm.customize.yaml -> _bmad/custom/bmad-agent-pm.toml" in out
    assert "nothing committed" in out
    assert not (legacy / "_bmad/custom/bmadweb.lock.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("upgrade",), "upgrade needs --to VERSION"),
        (("upgrade", "--to", "latest"), "not an exact BMAD version"),
        (("upgrade", "--to", "6.0.1"), "6.0.4 or later"),
    ],
)
def test_bad_requests_exit_2_and_touch_nothing(legacy, bins, args, message) -> None:  # type: ignore[no-untyped-def]
    log, env = bins
    code, _, err = script(legacy, env, *args)
    assert code == 2
    assert message in err
    assert git("status", "--porcelain", cwd=legacy) == ""
    assert calls(log) == []


def test_without_node_20_the_command_says_so(legacy, bins, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, env = bins
    fake_installer(tmp_path / "bin", node="v18.19.1")
    code, _, err = script(legacy, env, "upgrade", "--to", "6.12.0")
    assert code == 2
    assert "upgrade runs need node ≥ 20" in err


@pytest.mark.django_db
def test_manage_py_upgrade_on_a_project_makes_an_upgrade_run(  # type: ignore[no-untyped-def]
    make_project, legacy, tmp_path, settings, redis_conn
):
    fake_installer(tmp_path / "bin")
    settings.INSTALLER_NPX = str(tmp_path / "bin" / "npx")
    settings.INSTALLER_NODE = str(tmp_path / "bin" / "node")
    settings.WORK_DIR = tmp_path / "work"
    project = make_project(
        slug="legacy",
        repo_url=str(legacy),
        forge_kind="other",
        push_mode="branch",
        manifest=DEMO_MANIFEST,
    )
    code, out = bmad("upgrade", "--project", "legacy", "--to", "6.12.0", "--wait", "--approve")
    assert code == 0, out
    run = Run.objects.get(project=project)
    assert (run.kind, run.status, run.target_version) == (
        RunKind.UPGRADE,
        RunStatus.PUSHED,
        "6.12.0",
    )
    assert "Branch: bmadweb/legacy/" in out
    code, out = bmad("upgrade", "--project", "legacy")
    assert code == 2
    assert "--to VERSION" in out
