"""An analysis before any manifest is saved: an install audit through the real run path
(run_create, the RQ job, a real clone); provisioning still needs a manifest. Failed
analyses mark the project "error"; pushed runs say why no pull request was opened."""

from __future__ import annotations

import pytest

from projects import services as project_services
from projects.models import SyncStatus
from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import services
from provisioning.runs.pull_requests import pull_request_skip_reason
from tests.repos import make_remote

pytestmark = pytest.mark.django_db


@pytest.fixture
def bare_project(owner, tmp_path):  # type: ignore[no-untyped-def]
    return project_services.project_create(
        actor=owner,
        name="Audit Me",
        slug="audit-me",
        repo_url=str(make_remote(tmp_path)),
        forge_kind="other",
        push_mode="branch",
    )


def test_analyze_without_a_manifest_runs_an_install_audit(
    bare_project, owner, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_create(project=bare_project, kind=RunKind.ANALYZE, actor=owner)
    assert run.manifest_revision is None
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    assert run.report["audit"] is True
    assert run.report["items"] == []
    assert run.report["bmad"]["modules"]
    assert run.plan is None
    assert run.source_branch == "main"
    bare_project.refresh_from_db()
    assert bare_project.sync_status == SyncStatus.NEVER  # no manifest: not "in sync"
    assert bare_project.bmad_version == run.report["bmad"]["version"]


def test_provisioning_still_needs_a_manifest(bare_project, owner):
    with pytest.raises(services.RunError, match="no manifest"):
        services.run_create(project=bare_project, kind=RunKind.PROVISION, actor=owner)
    assert not Run.objects.exists()


def test_a_failed_analysis_marks_the_project_error_with_the_reason(
    owner, tmp_path, run_worker, django_capture_on_commit_callbacks
):
    missing = tmp_path / "gone.git"
    missing.mkdir()
    project = project_services.project_create(
        actor=owner, name="Gone", slug="gone", repo_url=str(missing)
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_create(project=project, kind=RunKind.ANALYZE, actor=owner)
    run_worker()
    run.refresh_from_db()
    project.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.failure_reason
    assert project.sync_status == SyncStatus.ERROR


@pytest.mark.parametrize(
    ("forge_kind", "push_mode", "token", "expected"),
    [
        ("github", "pull_request", "", "no forge token: add one under Credentials"),
        ("gitlab", "branch", "", "push the branch only"),
        ("other", "pull_request", "", "no pull request API"),
        ("gitea", "direct", "", "push to the default branch"),
        ("github", "pull_request", "t0ken", ""),
    ],
)
def test_the_reason_no_pull_request_is_opened(project, forge_kind, push_mode, token, expected):  # type: ignore[no-untyped-def]
    project.forge_kind, project.push_mode = forge_kind, push_mode
    project.set_secret("forge_token", token)
    reason = pull_request_skip_reason(project)
    assert (expected in reason) if expected else reason == ""


def test_a_pushed_branch_run_records_why_there_is_no_pull_request(
    bmad_project, owner, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_create(project=bmad_project, kind=RunKind.PROVISION, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert run.pr_url == ""
    assert "push the branch only" in run.pr_note


def test_webhook_runs_still_need_a_manifest(bare_project):
    """A push to a project without a manifest starts nothing (the delivery stays
    unclaimed, so a redelivery after the manifest is saved starts the analysis)."""
    with pytest.raises(services.RunError, match="no manifest"):
        services.run_create(project=bare_project, kind=RunKind.ANALYZE, require_manifest=True)
    assert not Run.objects.exists()
