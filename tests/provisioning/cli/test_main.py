"""The `bmadweb` console script on real git checkouts, as a team's CI runs it: no Django
settings, no database; exit codes 0 in sync / valid, 1 drift / invalid, 2 error."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from provisioning.demo.bmad_installs import DEMO_MANIFEST, build_v64
from provisioning.engine.pipeline import AUDIT_NOTE
from tests.repos import git

SCRIPT = Path(sys.executable).parent / "bmadweb"
CONFIG = "_bmad/custom/config.toml"
OLD_WORDS = "Routes engineering requests to the right specialist."


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A team's clone: a BMAD 6.12 install committed on main, and its manifest beside it."""
    root = tmp_path / "team-repo"
    root.mkdir()
    build_v64(root)
    (root / "bmadweb.yaml").write_text(DEMO_MANIFEST, encoding="utf-8")
    git("init", "--quiet", "--initial-branch", "main", cwd=root)
    git("add", "--all", cwd=root)
    git("commit", "--quiet", "--message", "Install BMAD", cwd=root)
    return root


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}


def cli(cwd: Path, *args: str, module: bool = False) -> tuple[int, str, str]:
    """Run the installed script (or `python -m provisioning.cli.main`) in `cwd`."""
    if not module:
        assert SCRIPT.exists(), f"{SCRIPT} is missing: run `make deps` to install the project"
    argv = [sys.executable, "-m", "provisioning.cli.main"] if module else [str(SCRIPT)]
    done = subprocess.run(
        [*argv, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def cli_json(cwd: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = cli(cwd, *args, "--format", "json")
    assert code != 2, err
    return code, json.loads(out)


def manage_json(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("bmad", *args, "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def head(root: Path) -> str:
    return git("rev-parse", "HEAD", cwd=root)


def test_validate_analyze_plan_diff_apply_on_a_checkout(checkout: Path) -> None:
    manifest = ("--manifest", "bmadweb.yaml")
    assert cli(checkout, "validate", *manifest)[:2] == (0, "Manifest is valid.\n")
    code, audit = cli_json(checkout, "analyze", "--path", ".")
    assert code == 0
    assert audit["status"] == "in_sync"
    assert audit["items"] == []
    assert audit["notes"] == [AUDIT_NOTE]
    code, report = cli_json(checkout, "analyze", "--path", ".", *manifest)
    assert code == 1
    assert report["status"] == "drift"
    assert {i["state"] for i in report["items"]} == {"missing"}
    code, plan = cli_json(checkout, "plan", "--path", ".", *manifest)
    assert code == 1
    assert any(op["action"] == "create" for op in plan["operations"])
    code, patch, _ = cli(checkout, "diff", "--path", ".", *manifest)
    assert code == 1
    assert "+++ b/.claude/skills/dev-leader/SKILL.md" in patch
    assert git("status", "--porcelain", cwd=checkout) == ""  # nothing above writes

    before = head(checkout)
    code, applied = cli_json(checkout, "apply", "--path", ".", *manifest)
    assert code == 0
    assert applied["status"] == "in_sync"
    assert "_bmad/custom/bmadweb.lock.json" in applied["applied"]["written"]
    assert head(checkout) == before  # never commits
    assert ".claude/skills/dev-leader/" in git("status", "--porcelain", "-uall", cwd=checkout)
    assert cli(checkout, "analyze", "--path", ".", *manifest)[0] == 0
    code, again = cli_json(checkout, "plan", "--path", ".", *manifest)
    assert code == 0
    assert again["plan"]["change_count"] == 0


def test_json_keys_are_the_same_as_manage_py_bmad(checkout: Path) -> None:
    manifest = str(checkout / "bmadweb.yaml")
    for mode in ("analyze", "plan"):
        _, data = cli_json(checkout, mode, "--path", ".", "--manifest", manifest)
        assert (
            data.keys() == manage_json(mode, "--path", str(checkout), "--manifest", manifest).keys()
        )
    _, audit = cli_json(checkout, "analyze", "--path", ".")
    assert audit == manage_json("analyze", "--path", str(checkout))
    _, schema = cli_json(checkout, "schema")
    assert schema == manage_json("schema")


def test_python_dash_m_works_and_imports_nothing_of_django(checkout: Path) -> None:
    code, out, _ = cli(checkout, "analyze", "--manifest", "bmadweb.yaml", module=True)
    assert code == 1
    assert "Status: drift" in out
    probe = (
        "import sys\n"
        "from provisioning.cli.main import main\n"
        "code = main(['plan', '--manifest', 'bmadweb.yaml', '--format', 'json'])\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rq', 'redis', 'bmadweb', 'projects')]\n"
        "assert loaded == [], loaded\n"
        "assert 'provisioning.models' not in sys.modules\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=checkout, env=_env(), capture_output=True, timeout=120
    )
    assert done.returncode == 1, done.stderr


def test_errors_exit_2_and_an_invalid_manifest_exits_1(checkout: Path, tmp_path: Path) -> None:
    code, _, err = cli(checkout, "analyze", "--path", str(tmp_path / "nope"))
    assert (code, "not a directory" in err) == (2, True)
    code, _, err = cli(checkout, "plan", "--manifest", str(tmp_path / "missing.yaml"))
    assert (code, "cannot read" in err) == (2, True)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(DEMO_MANIFEST.replace("healthai", "sant\xe9").encode("latin-1"))
    code, out, _ = cli(checkout, "plan", "--manifest", str(latin1), "--format", "json")
    assert (code, "not UTF-8" in json.loads(out)["error"]) == (2, True)
    assert cli(checkout, "provision", "--manifest", "bmadweb.yaml")[0] == 2  # not a mode here
    code, _, err = cli(checkout, "plan")
    assert (code, "needs --manifest" in err) == (2, True)
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(DEMO_MANIFEST.replace("id: dev-leader", "id: Dev_Leader"))
    code, data = cli_json(checkout, "plan", "--manifest", str(invalid))
    assert code == 1
    assert data["valid"] is False
    assert data["errors"][0]["path"] == "leaders[0].id"


def test_apply_leaves_a_real_conflict_unwritten_and_exits_1(checkout: Path) -> None:
    assert cli(checkout, "apply", "--manifest", "bmadweb.yaml")[0] == 0
    git("add", "--all", cwd=checkout)
    git("commit", "--quiet", "--message", "bmadweb files", cwd=checkout)
    config = checkout / CONFIG
    team_text = config.read_text().replace(OLD_WORDS, "Our own words.")
    config.write_text(team_text)
    manifest = checkout / "bmadweb.yaml"
    manifest.write_text(DEMO_MANIFEST.replace(OLD_WORDS, "Routes every engineering request."))

    code, out, _ = cli(checkout, "apply", "--manifest", "bmadweb.yaml")
    assert code == 1
    assert f"conflict {CONFIG}" in out
    assert "agents.dev-leader.description" in out
    assert "Status now: conflict" in out
    assert config.read_text() == team_text
    assert "<<<<<<<" not in config.read_text()
    assert (
        "Routes every engineering request."
        in (checkout / ".claude/skills/dev-leader/customize.toml").read_text()
    )
    code, plan = cli_json(checkout, "plan", "--manifest", "bmadweb.yaml")
    assert code == 1  # nothing left to write, but the conflict is still there
    assert plan["plan"]["change_count"] == 0
    assert plan["plan"]["conflicts"][0]["keys"] == ["agents.dev-leader.description"]
    code, report = cli_json(checkout, "analyze", "--manifest", "bmadweb.yaml")
    assert (code, report["status"]) == (1, "conflict")


ROOT = Path(__file__).resolve().parents[3]


def test_the_pre_commit_hook_and_the_ci_snippets_run_the_console_script() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "bmadweb-analyze"
    assert hook["entry"] == "bmadweb analyze --path ."
    assert hook["pass_filenames"] is False
    assert hook["language"] == "python"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"bmadweb": "provisioning.cli.main:main"}
    guide = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    snippets = re.findall(r"```yaml\n(.*?)```", guide, flags=re.DOTALL)
    assert len(snippets) == 3  # GitHub Actions, GitLab CI, pre-commit
    for snippet in snippets:
        assert yaml.safe_load(snippet)
        assert "bmadweb analyze" in snippet or "bmadweb-analyze" in snippet
    assert "(docs/ci.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_extends_resolves_from_files_beside_the_manifest_or_a_base_dir(
    checkout: Path, tmp_path: Path
) -> None:
    text = (checkout / "bmadweb.yaml").read_text()
    head_, _, rest = text.partition("leaders:")
    (checkout / "team.yaml").write_text("apiVersion: bmadweb/v1\nleaders:" + rest)
    (checkout / "bmadweb.yaml").write_text(head_ + "extends: [team]\n")
    assert cli(checkout, "validate", "--manifest", "bmadweb.yaml")[:2] == (
        0,
        "Manifest is valid.\n",
    )
    code, plan = cli_json(checkout, "plan", "--path", ".", "--manifest", "bmadweb.yaml")
    assert code == 1
    assert plan["operations"]
    bases = tmp_path / "bases"
    bases.mkdir()
    (checkout / "team.yaml").rename(bases / "team.yaml")
    code, out, _ = cli(checkout, "validate", "--manifest", "bmadweb.yaml")
    assert code == 1
    assert "no base manifest named 'team'" in out
    code, _ = cli_json(checkout, "validate", "--manifest", "bmadweb.yaml", "--base-dir", str(bases))
    assert code == 0
