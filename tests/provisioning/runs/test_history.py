"""An analysis reads the repository's recent history: a hand edit to a BMAD skill that a
later BMAD update overwrote is reported with the skill, the commits and the lost lines
(docs/bmad.md#lost-edits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.demo.bmad_installs import build_v64
from provisioning.models import RunKind, RunStatus
from provisioning.runs import services
from tests.repos import DEMO_MANIFEST, git

pytestmark = pytest.mark.django_db

PM = ".claude/skills/bmad-agent-pm/SKILL.md"
TEAM_LINE = "Team rule: PRDs fit on one page."


def remote_with_a_lost_edit(tmp_path: Path) -> tuple[Path, str, str]:
    """Install, a hand edit to BMAD's PM skill, then an update that rewrote it."""
    work = tmp_path / "seed"
    build_v64(work, version="6.11.0")
    git("init", "--quiet", "--initial-branch", "main", cwd=work)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "Install BMAD 6.11.0", cwd=work)
    skill = work / PM
    skill.write_text(skill.read_text() + f"\n{TEAM_LINE}\n")
    git("commit", "--quiet", "--all", "-m", "Our PM rule", cwd=work)
    edit = git("rev-parse", "HEAD", cwd=work)
    build_v64(work, version="6.12.0")  # the installer rewrites its files and manifests
    skill.write_text(skill.read_text().replace("# bmad-agent-pm", "# bmad-agent-pm (6.12)"))
    csv = work / "_bmad/_config/files-manifest.csv"
    csv.write_text(csv.read_text() + '"md","x","bmm","bmm/x.md","' + "0" * 64 + '"\n')
    git("commit", "--quiet", "--all", "-m", "Update BMAD to 6.12.0", cwd=work)
    update = git("rev-parse", "HEAD", cwd=work)
    bare = tmp_path / "remote.git"
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=tmp_path)
    return bare, edit, update


def test_analysis_names_the_lost_edit_its_commits_and_lines(  # type: ignore[no-untyped-def]
    make_project, owner, tmp_path, settings, run_worker, django_capture_on_commit_callbacks
):
    remote, edit, update = remote_with_a_lost_edit(tmp_path)
    settings.WORK_DIR = tmp_path / "work"
    project = make_project(
        slug="history",
        repo_url=str(remote),
        forge_kind="other",
        push_mode="branch",
        manifest=DEMO_MANIFEST,
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_create(project=project, kind=RunKind.ANALYZE, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    (finding,) = [f for f in run.report["findings"] if f["code"] == "BMAD_HAND_EDIT_LOST"]
    assert "skill bmad-agent-pm" in finding["title"]
    assert edit[:12] in finding["explanation"]
    assert update[:12] in finding["explanation"]
    assert f"+ {TEAM_LINE}" in finding["explanation"]
    assert f"git diff {edit[:12]}^ {edit[:12]} -- {PM}" in finding["recommendation"]
    assert finding["paths"] == [PM]


def test_without_history_depth_nothing_is_read(  # type: ignore[no-untyped-def]
    make_project, owner, tmp_path, settings, run_worker, django_capture_on_commit_callbacks
):
    remote, _, _ = remote_with_a_lost_edit(tmp_path)
    settings.WORK_DIR = tmp_path / "work"
    settings.HISTORY_DEPTH = 1
    project = make_project(
        slug="shallow",
        repo_url=str(remote),
        forge_kind="other",
        push_mode="branch",
        manifest=DEMO_MANIFEST,
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_create(project=project, kind=RunKind.ANALYZE, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    assert "BMAD_HAND_EDIT_LOST" not in {f["code"] for f in run.report["findings"]}


def test_a_reused_report_reads_the_lost_edits_from_the_new_history(  # type: ignore[no-untyped-def]
    make_project, owner, tmp_path, settings, run_worker, django_capture_on_commit_callbacks
):
    """The report reused when nothing the engine reads changed (docs/decisions.md#d50)
    still names the lost edit, read from the new tip's history and objects, though the
    mirror's work tree was left at the older commit."""
    from tests.repos import push_change

    remote, edit, _ = remote_with_a_lost_edit(tmp_path)
    settings.WORK_DIR = tmp_path / "work"
    settings.MIRROR_BUDGET_MB = 64
    project = make_project(
        slug="reused",
        repo_url=str(remote),
        forge_kind="other",
        push_mode="branch",
        manifest=DEMO_MANIFEST,
    )
    push_change(remote, tmp_path, "docs/README.md", "# Our docs\n")
    runs = []
    for step in range(2):
        if step:
            push_change(remote, tmp_path, "docs/notes.md", "Notes.\n")
        with django_capture_on_commit_callbacks(execute=True):
            run = services.run_create(project=project, kind=RunKind.ANALYZE, actor=owner)
        run_worker()
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.failure_reason
        runs.append(run)
    log = "\n".join(runs[1].log_entries.values_list("message", flat=True))
    assert "the last report is reused" in log
    lost = [f for f in runs[1].report["findings"] if f["code"] == "BMAD_HAND_EDIT_LOST"]
    assert len(lost) == 1
    assert edit[:12] in lost[0]["explanation"]
    assert runs[1].report == runs[0].report
