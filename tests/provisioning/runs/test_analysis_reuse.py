"""An analysis on a mirror reuses the last report when nothing it read changed
(docs/decisions.md#d50): a push elsewhere in the repository reuses it, a push to a file
the engine read, a new manifest, other engine code, a lost or damaged memo or a deleted
run each give a full analysis, and every report equals a fresh clone's. Real bare
remotes, real Redis, RQ's SimpleWorker."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from projects import services as project_services
from provisioning.models import Run
from provisioning.runs.reuse import MEMO
from tests.provisioning.runs.test_mirror_runs import PM, analyze, log_of
from tests.repos import DEMO_MANIFEST, push_change

pytestmark = pytest.mark.django_db

REUSED = "the last report is reused"


@pytest.fixture
def run_analysis(  # type: ignore[no-untyped-def]
    bmad_project, owner, run_worker, django_capture_on_commit_callbacks, work, bmad_remote, tmp_path
):
    # A folder of the team's own beside BMAD, as most repositories have: the engine lists
    # the top folder (a new folder there is news to it) but never looks inside this one.
    push_change(bmad_remote, tmp_path, "docs/README.md", "# Our docs\n")

    def run() -> Run:
        return analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)

    return run


def memo_path(work: Path, project) -> Path:  # type: ignore[no-untyped-def]
    return work / "mirrors" / str(project.pk) / MEMO


def fresh_report(settings, run_analysis) -> dict:  # type: ignore[no-untyped-def]
    """What an analysis on a fresh clone reports (mirrors off for one run)."""
    budget = settings.MIRROR_BUDGET_MB
    settings.MIRROR_BUDGET_MB = 0
    try:
        run = run_analysis()
    finally:
        settings.MIRROR_BUDGET_MB = budget
    assert "Cloned main" in log_of(run)
    return run.report


def test_a_push_elsewhere_reuses_the_report_and_a_push_to_a_read_file_does_not(  # type: ignore[no-untyped-def]
    bmad_project, run_analysis, bmad_remote, tmp_path, work, settings
):
    first = run_analysis()
    assert REUSED not in log_of(first)
    assert memo_path(work, bmad_project).is_file()

    sha = push_change(bmad_remote, tmp_path, "docs/notes/today.md", "Team notes.\n")
    second = run_analysis()
    assert REUSED in log_of(second)
    assert second.base_sha == sha != first.base_sha
    assert second.report == first.report
    bmad_project.refresh_from_db()
    assert bmad_project.last_analyzed_at >= second.created

    skill = (work / "mirrors" / str(bmad_project.pk) / "repo" / PM).read_text()
    push_change(bmad_remote, tmp_path, PM, skill + "\nTeam rule: short PRDs.\n")
    third = run_analysis()
    assert REUSED not in log_of(third)
    assert third.report != second.report
    paths = [p for f in third.report["findings"] for p in f.get("paths", [])]
    assert PM in paths  # the work tree was brought to the tip, not left at the reuse's
    assert third.report == fresh_report(settings, run_analysis)


def test_a_new_file_in_a_folder_the_engine_lists_is_a_full_analysis(  # type: ignore[no-untyped-def]
    bmad_project, run_analysis, bmad_remote, tmp_path, settings
):
    run_analysis()
    push_change(bmad_remote, tmp_path, ".claude/skills/team-own/SKILL.md", "# Ours\n")
    second = run_analysis()
    assert REUSED not in log_of(second)
    assert second.report == fresh_report(settings, run_analysis)


def test_a_new_manifest_revision_is_a_full_analysis(  # type: ignore[no-untyped-def]
    bmad_project, owner, run_analysis, bmad_remote, tmp_path
):
    first = run_analysis()
    changed = DEMO_MANIFEST.replace("hipaa-reviewer", "hipaa-checker")
    assert changed != DEMO_MANIFEST
    project_services.manifest_save(actor=owner, project=bmad_project, yaml_text=changed)
    push_change(bmad_remote, tmp_path, "docs/notes/today.md", "Team notes.\n")
    second = run_analysis()
    assert REUSED not in log_of(second)
    third = run_analysis()
    assert REUSED in log_of(third)  # judged against the new manifest from now on
    assert third.report == second.report != first.report


@pytest.mark.parametrize(
    "damage",
    ["other engine code", "not JSON", "deleted run", "a link", "a FIFO", "missing"],
)
def test_a_memo_that_cannot_be_trusted_is_a_full_analysis(  # type: ignore[no-untyped-def]
    damage, bmad_project, run_analysis, bmad_remote, tmp_path, work
):
    first = run_analysis()
    memo = memo_path(work, bmad_project)
    data = json.loads(memo.read_text())
    if damage == "other engine code":
        memo.write_text(json.dumps({**data, "engine": "0" * 64}))
    elif damage == "not JSON":
        memo.write_text("{not json")
    elif damage == "deleted run":
        Run.objects.filter(pk=first.pk).delete()
    elif damage == "a link":
        target = tmp_path / "elsewhere.json"
        target.write_text(json.dumps(data))
        memo.unlink()
        memo.symlink_to(target)
    elif damage == "a FIFO":  # never waited on
        memo.unlink()
        os.mkfifo(memo)
    else:
        memo.unlink()
    push_change(bmad_remote, tmp_path, "docs/notes/today.md", "Team notes.\n")
    second = run_analysis()
    assert REUSED not in log_of(second)
    if damage != "deleted run":
        assert second.report == first.report  # the same answer, the long way
    third = run_analysis()  # and the memo is good again
    assert REUSED in log_of(third)


def test_a_reuse_points_the_memo_at_the_newest_run(  # type: ignore[no-untyped-def]
    bmad_project, run_analysis, bmad_remote, tmp_path, work
):
    first = run_analysis()
    second = run_analysis()
    assert REUSED in log_of(second)
    assert json.loads(memo_path(work, bmad_project).read_text())["run"] == second.pk
    Run.objects.filter(pk=first.pk).delete()  # retention may delete the older run
    third = run_analysis()
    assert REUSED in log_of(third)
    assert third.report == second.report


def test_a_reuse_writes_its_log_lines_with_its_end(  # type: ignore[no-untyped-def]
    bmad_project,
    owner,
    run_worker,
    django_capture_on_commit_callbacks,
    run_analysis,
    bmad_remote,
    tmp_path,
):
    """A reuse takes milliseconds: its two lines and the report's summary go in with the
    report and the run's end (one INSERT of all three, in that transaction), in the
    order they were said; the report is stored by the UPDATE that ends the run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from provisioning.models import RunKind
    from provisioning.runs import services

    run_analysis()
    push_change(bmad_remote, tmp_path, "docs/notes/today.md", "Team notes.\n")
    with django_capture_on_commit_callbacks(execute=True):
        second = services.run_create(project=bmad_project, kind=RunKind.ANALYZE, actor=owner)
    with CaptureQueriesContext(connection) as queries:
        run_worker()
    inserts = [
        q["sql"] for q in queries.captured_queries if 'INTO "provisioning_runlogentry"' in q["sql"]
    ]
    lines = list(second.log_entries.order_by("id").values_list("message", flat=True))
    assert [line.split(" ")[0] for line in lines] == ["Mirror", "Nothing", "Gap"], lines
    assert "(fetched the changes)" in lines[0]
    assert len(inserts) == 1
    run_updates = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('UPDATE "provisioning_run"')
    ]
    assert len(run_updates) == 2  # the start, then the end with the report
    second.refresh_from_db()
    assert second.status == "succeeded"
    assert isinstance(second.report["findings"], list)
