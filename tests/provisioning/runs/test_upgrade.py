"""Upgrade runs end to end: a real bare remote holding a BMAD 6.0.4 install with a team
customization, the real worker, the local fake forge, and a stand-in for BMAD's installer
started through the installer door (tests/provisioning/installer/fakes.py). The real
installer runs in tests/provisioning/runs/test_upgrade_real.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.demo.bmad_installs import build_v60
from provisioning.demo.install_parts import add_orphaned_customize_yaml
from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import services
from tests.provisioning.forges.fakeforge import FakeForge
from tests.provisioning.installer.fakes import calls, fake_installer
from tests.repos import DEMO_MANIFEST, git, remote_branches, remote_commits, remote_file

pytestmark = pytest.mark.django_db

FORGE_TOKEN = "upgrade-forge-token-5d1e"


def make_v60_remote(tmp_path: Path) -> Path:
    """A bare remote whose main branch holds BMAD 6.0.4 with a customized PM agent."""
    work = tmp_path / "seed"
    build_v60(work)
    add_orphaned_customize_yaml(work)  # bmm-pm carries role "Team PM" and a principle
    git("init", "--quiet", "--initial-branch", "main", cwd=work)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "--message", "Install BMAD 6.0.4", cwd=work)
    bare = tmp_path / "remote.git"
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=tmp_path)
    return bare


@pytest.fixture
def installer(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    log = fake_installer(tmp_path / "bin")
    settings.INSTALLER_NPX = str(tmp_path / "bin" / "npx")
    settings.INSTALLER_NODE = str(tmp_path / "bin" / "node")
    settings.WORK_DIR = tmp_path / "work"
    return log


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_v60_remote(tmp_path)


@pytest.fixture
def forge(make_fake_forge) -> FakeForge:  # type: ignore[no-untyped-def]
    return make_fake_forge(token=FORGE_TOKEN)


@pytest.fixture
def project(make_project, remote, forge):  # type: ignore[no-untyped-def]
    return make_project(
        name="Legacy",
        slug="legacy",
        repo_url=str(remote),
        forge_kind="github",
        forge_api_url=forge.base_url("github"),
        push_mode="pull_request",
        secrets={"forge_token": FORGE_TOKEN},
        manifest=DEMO_MANIFEST,
    )


def start(project, owner, capture, version: str = "6.12.0") -> Run:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        run = services.run_create(
            project=project, kind=RunKind.UPGRADE, actor=owner, target_version=version
        )
    return run


def log_of(run: Run) -> str:
    return "\n".join(run.log_entries.values_list("message", flat=True))


def test_upgrade_waits_for_approval_then_commits_everything_and_opens_a_pull_request(
    project,
    owner,
    installer,
    remote,
    forge,
    run_worker,
    django_capture_on_commit_callbacks,
):
    base = remote_commits(remote, "main")
    run = start(project, owner, django_capture_on_commit_callbacks)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL, run.failure_reason
    assert run.needs_approval
    assert run.report["bmad"]["version"] == "6.0.4"  # the repository as it is
    upgrade = run.plan["upgrade"]
    assert (upgrade["from"], upgrade["to"]) == ("6.0.4", "6.12.0")
    assert upgrade["installer"]["added"] > 0
    planned = {op["path"]: op["action"] for op in run.plan["operations"]}
    assert planned["_bmad/custom/bmad-agent-pm.toml"] == "create"
    assert planned["_bmad/_config/agents/bmm-pm.customize.yaml"] == "delete"
    assert planned[".claude/commands/bmad-agent-bmm-pm.md"] == "delete"
    (call,) = calls(installer)  # nothing hand-edited: one installer run
    assert call["argv"][:2] == ["-y", "bmad-method@6.12.0"]
    assert "--action" in call["argv"]
    assert "BMAD 6.0.4 -> 6.12.0" in log_of(run)
    assert "✔ BMAD is ready" in log_of(run)  # the installer's output, in the run log

    with django_capture_on_commit_callbacks(execute=True):
        services.run_approve(run=run, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert len(calls(installer)) == 2  # the approved upgrade is made again, in a new clone
    branch = f"bmadweb/legacy/{run.pk}"
    assert remote_branches(remote) == sorted(["main", branch])
    assert remote_commits(remote, branch) == [run.commit_sha, *base]  # one commit
    assert remote_commits(remote, "main") == base
    message = git("log", "-1", "--format=%B", branch, cwd=remote)
    assert message.startswith("bmadweb: upgrade BMAD 6.0.4 to 6.12.0 in Legacy")
    assert f"Bmadweb-Run: {run.pk}" in message
    assert "6.12.0" in remote_file(remote, branch, "_bmad/_config/manifest.yaml")
    override = remote_file(remote, branch, "_bmad/custom/bmad-agent-pm.toml")
    assert 'role = "Team PM"' in override
    files = git("ls-tree", "-r", "--name-only", branch, cwd=remote).split()
    assert "_bmad/_config/agents/bmm-pm.customize.yaml" not in files
    assert ".claude/commands/bmad-agent-bmm-pm.md" not in files
    assert ".claude/skills/dev-leader/SKILL.md" in files  # the manifest applied again
    (pull,) = forge.pulls_of("github")
    assert pull.title == "bmadweb: upgrade BMAD to 6.12.0 in Legacy"
    assert "| folder | added | changed | deleted |" in pull.body
    assert "`.claude/skills` |" in pull.body
    assert "`_bmad/_config/agents/bmm-pm.customize.yaml` → `_bmad/custom/bmad-agent-pm.toml`" in (
        pull.body
    )


def test_a_project_may_let_upgrades_apply_without_approval(
    project, owner, installer, run_worker, django_capture_on_commit_callbacks
):
    project.upgrades_skip_approval = True
    project.save(update_fields=["upgrades_skip_approval"])
    run = start(project, owner, django_capture_on_commit_callbacks)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert len(calls(installer)) == 1  # applied in the clone it was planned on


def test_a_worker_without_node_20_fails_the_run_plainly(
    project, owner, installer, tmp_path, run_worker, django_capture_on_commit_callbacks
):
    fake_installer(tmp_path / "bin", node="v18.19.1")
    run = start(project, owner, django_capture_on_commit_callbacks)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.failure_reason.startswith("Upgrade runs need node ≥ 20")
    assert calls(installer) == []


def test_a_failing_installer_fails_the_run_with_its_words(
    project, owner, installer, tmp_path, run_worker, django_capture_on_commit_callbacks
):
    fake_installer(tmp_path / "bin", fail=True)
    run = start(project, owner, django_capture_on_commit_callbacks)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "failed (exit 1)" in run.failure_reason
    assert "npm error 404" in run.failure_reason


def test_a_downgrade_is_refused_before_anything_is_written(
    project, owner, installer, remote, run_worker, django_capture_on_commit_callbacks
):
    run = start(project, owner, django_capture_on_commit_callbacks, version="6.0.1")
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    # Below the oldest version bmadweb upgrades to, so refused by that rule (the engine's
    # tests cover a downgrade between two later versions, "... not a downgrade.").
    assert run.failure_reason == "bmadweb upgrades to BMAD 6.0.4 or later."
    assert calls(installer) == []
    assert remote_branches(remote) == ["main"]


@pytest.mark.parametrize(
    ("kind", "version", "message"),
    [
        (RunKind.UPGRADE, "", "exact BMAD version"),
        (RunKind.UPGRADE, "latest", "exact BMAD version"),
        (RunKind.UPGRADE, ">=6.4", "exact BMAD version"),
        (RunKind.PROVISION, "6.12.0", "Only upgrade runs"),
    ],
)
def test_run_create_checks_the_target_version(project, owner, kind, version, message):
    with pytest.raises(services.RunError, match=message):
        services.run_create(project=project, kind=kind, actor=owner, target_version=version)
    assert not Run.objects.exists()


def test_an_upgrade_writing_into_a_submodule_fails_before_committing(
    project, owner, installer, remote, tmp_path, run_worker, django_capture_on_commit_callbacks
):
    """The submodule guard holds for upgrade runs too (docs/security.md#s6)."""
    from tests.provisioning.git_ops.test_repo_limits import SKILL_DIR, _add_gitlink

    _add_gitlink(remote, tmp_path, SKILL_DIR)
    project.upgrades_skip_approval = True
    project.save(update_fields=["upgrades_skip_approval"])
    run = start(project, owner, django_capture_on_commit_callbacks)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED, run.failure_reason
    assert f"inside the submodule {SKILL_DIR}" in run.failure_reason
    assert git("branch", "--list", cwd=remote).split() == ["*", "main"]
