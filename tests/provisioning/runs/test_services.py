"""Runs end to end: real bare remote, real Redis, RQ's SimpleWorker in burst mode."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import SyncStatus
from projects.presenters import plan_rows
from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import services
from tests.repos import merge_branch, push_change, remote_branches, remote_commits, remote_file

pytestmark = pytest.mark.django_db


def _start(project, owner, kind, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_create(project=project, kind=kind, actor=owner)
    run.refresh_from_db()
    return run


def test_analyze_run_stores_report_and_sync_status(
    bmad_project, owner, run_worker, django_capture_on_commit_callbacks
):
    run = _start(bmad_project, owner, RunKind.ANALYZE, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.QUEUED
    assert run.job_id
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    assert run.report["bmad"]["version"] == "6.12.0"
    states = {item["state"] for item in run.report["items"]}
    assert states == {"missing"}
    bmad_project.refresh_from_db()
    assert bmad_project.sync_status == SyncStatus.DRIFT
    assert bmad_project.bmad_version == "6.12.0"


def test_provision_run_pushes_one_commit_on_its_branch(
    bmad_project, owner, run_worker, bmad_remote, django_capture_on_commit_callbacks
):
    base = remote_commits(bmad_remote, "main")
    run = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.PUSHED, run.failure_reason
    branch = f"bmadweb/healthai/{run.pk}"
    assert run.branch == branch
    assert remote_branches(bmad_remote) == sorted(["main", branch])
    assert remote_commits(bmad_remote, branch) == [run.commit_sha, *base]
    skill = remote_file(bmad_remote, branch, ".claude/skills/frontend-specialist/SKILL.md")
    assert "Frontend Specialist" in skill
    assert remote_commits(bmad_remote, "main") == base  # default branch untouched
    # Each diff is stored once, in the patch; the page cuts every operation's part out.
    rows = plan_rows(run.plan, run.diff)
    assert rows
    assert all("diff" not in op for op in run.plan["operations"])
    assert "".join(row["diff"] for row in sorted(rows, key=lambda r: r["path"])) == run.diff
    path = ".claude/skills/frontend-specialist/SKILL.md"
    skill_row = next(r for r in rows if r["path"] == path)
    assert skill_row["diff"].startswith(f"--- /dev/null\n+++ b/{path}\n")
    assert "+" + skill.splitlines()[0] in skill_row["diff"]


def test_second_provision_after_merge_has_no_changes(
    bmad_project, owner, run_worker, bmad_remote, tmp_path, django_capture_on_commit_callbacks
):
    run = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    run.refresh_from_db()
    # The team merges the branch.
    from tests.repos import git

    work = tmp_path / "merge"
    git("clone", "--quiet", str(bmad_remote), str(work), cwd=tmp_path)
    git("merge", "--quiet", "--ff-only", f"origin/{run.branch}", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    again = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    again.refresh_from_db()
    assert again.status == RunStatus.NO_CHANGES, again.failure_reason


def test_second_request_while_active_is_busy(bmad_project, owner):
    services.run_create(project=bmad_project, kind=RunKind.ANALYZE, actor=owner)
    with pytest.raises(services.RunBusy, match="busy"):
        services.run_create(project=bmad_project, kind=RunKind.PROVISION, actor=owner)
    assert Run.objects.count() == 1


def test_coalesced_request_returns_the_queued_run(bmad_project, owner):
    first = services.run_create(project=bmad_project, kind=RunKind.ANALYZE, actor=owner)
    second = services.run_create(
        project=bmad_project, kind=RunKind.ANALYZE, actor=owner, coalesce=True
    )
    assert first.pk == second.pk


def test_plan_needing_approval_waits_then_applies(
    bmad_project, owner, run_worker, bmad_remote, django_capture_on_commit_callbacks
):
    bmad_project.require_approval = True
    bmad_project.save()
    run = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL
    assert run.diff.startswith("--- /dev/null\n+++ b/.agents/skills/dev-leader/SKILL.md\n")
    assert "--- a/_bmad/custom/config.toml\n+++ b/_bmad/custom/config.toml\n" in run.diff
    with django_capture_on_commit_callbacks(execute=True):
        services.run_approve(run=run, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert run.approved_by == owner


def test_apply_refuses_when_default_branch_moved(
    bmad_project, owner, run_worker, bmad_remote, tmp_path, django_capture_on_commit_callbacks
):
    bmad_project.require_approval = True
    bmad_project.save()
    run = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    push_change(bmad_remote, tmp_path, "README.md", "moved on\n")
    with django_capture_on_commit_callbacks(execute=True):
        services.run_approve(run=run, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "moved since the plan" in run.failure_reason
    assert remote_branches(bmad_remote) == ["main"]


def test_cancel_awaiting_run(bmad_project, owner, run_worker, django_capture_on_commit_callbacks):
    bmad_project.require_approval = True
    bmad_project.save()
    run = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    services.run_cancel(run=Run.objects.get(pk=run.pk), actor=owner)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    with pytest.raises(services.RunError):
        services.run_approve(run=run, actor=owner)


def test_every_transition_is_audited(
    bmad_project, owner, run_worker, django_capture_on_commit_callbacks
):
    from bmadweb.audit import audit_payload
    from bmadweb.models import AuditRecord

    run = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    records = [
        audit_payload(r) | {"action": r.action}
        for r in AuditRecord.objects.filter(action__startswith="run.").order_by("seq")
    ]
    assert [r["action"] for r in records if r["run"] == run.pk] == [
        "run.create",
        "run.start",
        "run.pushed",
    ]


def test_provision_that_leaves_a_conflict_needs_attention_never_in_sync(
    bmad_project,
    owner,
    run_worker,
    bmad_remote,
    tmp_path,
    client,
    django_capture_on_commit_callbacks,
):
    from projects import services as project_services
    from tests.repos import DEMO_MANIFEST

    first = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    first.refresh_from_db()
    merge_branch(bmad_remote, tmp_path, first.branch)
    # The team rewords a registration bmadweb wrote; the manifest rewords it too.
    config = "_bmad/custom/config.toml"
    old = "Routes engineering requests to the right specialist."
    team_text = remote_file(bmad_remote, "main", config).replace(old, "Our own words.") + "\n"
    push_change(bmad_remote, tmp_path, config, team_text)
    project_services.manifest_save(
        actor=owner,
        project=bmad_project,
        yaml_text=DEMO_MANIFEST.replace(old, "Routes every engineering request."),
        message="reword",
    )

    run = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.NEEDS_ATTENTION, run.failure_reason
    assert not run.is_active
    assert config in run.failure_reason
    (conflict,) = run.plan["conflicts"]
    assert conflict["path"] == config
    assert conflict["keys"] == ["agents.dev-leader.description"]
    # What could be written was pushed; the conflicting file is the team's, no markers.
    assert run.branch in remote_branches(bmad_remote)
    assert remote_file(bmad_remote, run.branch, config) == team_text.rstrip("\n")
    skill = remote_file(bmad_remote, run.branch, ".claude/skills/dev-leader/customize.toml")
    assert "Routes every engineering request." in skill
    bmad_project.refresh_from_db()
    assert bmad_project.sync_status == SyncStatus.CONFLICT
    assert run.report["status"] != "in_sync"
    client.force_login(owner)
    page = client.get(
        reverse("provisioning:run-detail", kwargs={"slug": "healthai", "run_id": run.pk})
    ).content.decode()
    assert "badge-needs_attention" in page
    assert "Needs attention" in page
    assert run.branch in page

    # Once merged, nothing else is left to write, and the run still needs attention.
    merge_branch(bmad_remote, tmp_path, run.branch)
    again = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    run_worker()
    again.refresh_from_db()
    assert again.status == RunStatus.NEEDS_ATTENTION, again.failure_reason
    assert again.branch == ""
    assert "Nothing else to change" in again.failure_reason
    assert again.report["status"] == "conflict"
    bmad_project.refresh_from_db()
    assert bmad_project.sync_status == SyncStatus.CONFLICT


def test_a_transition_leaves_the_instance_as_the_row_without_reloading_it(
    bmad_project, owner, django_assert_num_queries
):
    """The compare-and-set writes the row and sets the same values on the instance: the
    loaded project stays loaded, the large results stay deferred (read from the row when
    used), and an expression is read back."""
    from django.db.models import F
    from django.utils import timezone

    from provisioning.models import RUN_RESULT_FIELDS
    from provisioning.runs.lifecycle import transition

    created = services.run_create(project=bmad_project, kind=RunKind.ANALYZE, enqueue=False)
    run = Run.objects.select_related("project").defer(*RUN_RESULT_FIELDS).get(pk=created.pk)
    started = timezone.now()
    with django_assert_num_queries(1):  # the UPDATE, no reload
        assert transition(
            run, RunStatus.RUNNING, allowed=(RunStatus.QUEUED,), started=started, attempts=1
        )
    with django_assert_num_queries(0):
        assert run.project.pk == bmad_project.pk
    row = Run.objects.get(pk=run.pk)
    for name in ("status", "started", "heartbeat", "attempts"):
        assert getattr(run, name) == getattr(row, name), name

    plan = {"operations": [], "note": "stored"}
    with django_assert_num_queries(2):  # the UPDATE, then the expression read back
        assert transition(
            run,
            RunStatus.AWAITING_APPROVAL,
            allowed=(RunStatus.RUNNING,),
            plan=plan,
            attempts=F("attempts") + 1,
        )
    assert run.attempts == 2 == Run.objects.get(pk=run.pk).attempts
    assert "plan" in run.get_deferred_fields()
    assert run.plan == plan  # read from the row

    # A lost compare-and-set changes nothing on the instance.
    assert not transition(run, RunStatus.APPLYING, allowed=(RunStatus.QUEUED,))
    assert run.status == RunStatus.AWAITING_APPROVAL
