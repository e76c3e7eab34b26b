"""An upgrade run with BMAD's REAL installer: a repository on 6.11.0, provisioned by
bmadweb and with a hand edit to one of BMAD's skills, is upgraded to 6.12.0 (docs/bmad.md#upgrade).

Everything is real but the forge: a bare remote, the worker, the installer door starting
`npx bmad-method@…` in its sandbox (its own npm cache: the package comes from the
registry), the fake forge for the pull request. The run waits for approval, is approved,
upgrades a fresh clone again and pushes one commit; the branch, checked out as the team
would, is in sync with the manifest and BMAD 6.12's own resolver returns the
customizations. Skips without npx (fails with BMADWEB_REQUIRE_ALL=1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provisioning.engine.manifest import load_manifest
from provisioning.engine.pipeline import analyze_repo, plan_repo, report_to_dict
from provisioning.engine.plan import apply_plan
from provisioning.models import RunKind, RunStatus
from provisioning.runs import services
from tests import realbmad
from tests.provisioning.forges.fakeforge import FakeForge
from tests.repos import DEMO_MANIFEST, git, remote_commits

pytestmark = [pytest.mark.npx, pytest.mark.django_db]

FORGE_TOKEN = "real-upgrade-token-77aa"
PM_SKILL = ".claude/skills/bmad-agent-pm/SKILL.md"
TEAM_LINE = "Team rule: every PRD names its compliance owner."


def provisioned_611(tmp_path: Path) -> Path:
    """A bare remote: a real 6.11.0 install, provisioned with the demo manifest, then a
    hand edit to BMAD's PM skill, each step a commit as a team would make it."""
    work = realbmad.copy_of(realbmad.install("6.11.0"), tmp_path / "seed")
    git("init", "--quiet", "--initial-branch", "main", cwd=work)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "--message", "BMAD 6.11.0", cwd=work)
    manifest = load_manifest(DEMO_MANIFEST).manifest
    assert manifest is not None
    _, plan = plan_repo(work, manifest, manifest_revision="earlier")
    apply_plan(work, plan)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "--message", "bmadweb: provision", cwd=work)
    skill = work / PM_SKILL
    skill.write_text(skill.read_text() + f"\n{TEAM_LINE}\n")
    git("commit", "--quiet", "--all", "--message", "Our PM rule", cwd=work)
    bare = tmp_path / "remote.git"
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=tmp_path)
    return bare


def resolved(root: Path, skill: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(root / "_bmad/scripts/resolve_customization.py"),
            "--skill",
            str(root / ".claude/skills" / skill),
            "--project-root",
            str(root),
            "--key",
            "agent",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data.get("agent", data)


def test_611_provisioned_repository_upgraded_to_612_by_a_run(  # type: ignore[no-untyped-def]
    make_project,
    make_fake_forge,
    owner,
    tmp_path,
    settings,
    redis_conn,
    run_worker,
    django_capture_on_commit_callbacks,
):
    remote = provisioned_611(tmp_path)
    forge: FakeForge = make_fake_forge(token=FORGE_TOKEN)
    settings.WORK_DIR = tmp_path / "work"
    settings.GIT_TIMEOUT_S = realbmad.TIMEOUT_S  # the installer's budget in upgrade runs
    project = make_project(
        name="Health AI",
        slug="healthai",
        repo_url=str(remote),
        forge_kind="github",
        forge_api_url=forge.base_url("github"),
        push_mode="pull_request",
        secrets={"forge_token": FORGE_TOKEN},
        manifest=DEMO_MANIFEST,
    )
    base = remote_commits(remote, "main")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_create(
            project=project, kind=RunKind.UPGRADE, actor=owner, target_version="6.12.0"
        )
    run_worker()
    run.refresh_from_db()
    if run.status == RunStatus.FAILED and (
        "installer" in run.failure_reason or "node" in run.failure_reason
    ):
        realbmad.unavailable(f"the real installer did not run: {run.failure_reason}")
    assert run.status == RunStatus.AWAITING_APPROVAL, run.failure_reason
    assert run.report["bmad"]["version"] == "6.11.0"
    rescued = {r["path"]: r for r in run.plan["upgrade"]["rescued"]}
    assert rescued[PM_SKILL]["reapplied"] is True
    planned = {op["path"]: op["action"] for op in run.plan["operations"]}
    assert planned[PM_SKILL] == "merge"
    assert planned["_bmad/custom/rescued/bmad-agent-pm.patch"] == "create"

    with django_capture_on_commit_callbacks(execute=True):
        services.run_approve(run=run, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert remote_commits(remote, run.branch) == [run.commit_sha, *base]
    (pull,) = forge.pulls_of("github")
    assert "BMAD's official installer upgraded BMAD **6.11.0** to **6.12.0**" in pull.body

    checkout = tmp_path / "team"
    git("clone", "--quiet", "--branch", run.branch, str(remote), str(checkout), cwd=tmp_path)
    manifest = load_manifest(DEMO_MANIFEST).manifest
    assert manifest is not None
    report = report_to_dict(analyze_repo(checkout, manifest).report)
    assert report["bmad"]["version"] == "6.12.0"
    assert report["status"] == "in_sync", report["findings"]
    assert [i["path"] for i in report["items"] if i["state"] != "up-to-date"] == []

    pm = resolved(checkout, "bmad-agent-pm")
    assert "Prefer short, bulleted PRDs." in pm["principles"]  # the manifest's override
    assert "file:{project-root}/docs/standards/*.md" in pm["persistent_facts"]
    skill = (checkout / PM_SKILL).read_text()
    assert TEAM_LINE in skill  # the hand edit, offered again and approved
    assert "--project-root {project-root} --key agent" in skill  # on 6.12's text
    patch = (checkout / "_bmad/custom/rescued/bmad-agent-pm.patch").read_text()
    assert f"+{TEAM_LINE}" in patch
    leader = resolved(checkout, "dev-leader")  # bmadweb's own agent still resolves
    assert leader["name"] == "Dev Leader"
