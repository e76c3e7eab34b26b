"""Analysis runs on the project's mirror (docs/git-door.md#mirrors): the second analysis
fetches the delta into the mirror the first one cloned, reports exactly what a fresh clone
reports, and sees every push; a mirror that is too large for the budget is evicted after
the run, and with a budget of 0 no mirror is kept at all. Real bare remotes, real Redis,
RQ's SimpleWorker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import services
from tests.repos import push_change

pytestmark = pytest.mark.django_db

PM = ".claude/skills/bmad-agent-pm/SKILL.md"


def analyze(project, owner, run_worker, capture) -> Run:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        run = services.run_create(project=project, kind=RunKind.ANALYZE, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    return run


def log_of(run: Run) -> str:
    return "\n".join(run.log_entries.values_list("message", flat=True))


def mirror_folders(work: Path) -> list[str]:
    root = work / "mirrors"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def report_of(run: Run) -> dict[str, Any]:
    return run.report


@pytest.fixture
def analyzed(bmad_project, owner, run_worker, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """An analysis of the project, run to its end by the worker."""
    return lambda: analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)


def test_the_report_is_the_same_cold_warm_and_without_mirrors(  # type: ignore[no-untyped-def]
    bmad_project, owner, run_worker, django_capture_on_commit_callbacks, work, settings
):
    cold = analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert "(cloned afresh)" in log_of(cold)
    assert mirror_folders(work) == [str(bmad_project.pk)]
    warm = analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert "(no new commits since its last use)" in log_of(warm)  # nothing was pushed
    settings.MIRROR_BUDGET_MB = 0
    fresh = analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert "Cloned main" in log_of(fresh)
    assert report_of(cold) == report_of(warm) == report_of(fresh)
    assert cold.base_sha == warm.base_sha == fresh.base_sha


def test_a_warm_analysis_sees_a_new_push(  # type: ignore[no-untyped-def]
    bmad_project,
    owner,
    run_worker,
    django_capture_on_commit_callbacks,
    work,
    bmad_remote,
    tmp_path,
):
    first = analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)
    edited = {f["code"] for f in first.report["findings"]}
    skill = (work / "mirrors" / str(bmad_project.pk) / "repo" / PM).read_text()
    sha = push_change(bmad_remote, tmp_path, PM, skill + "\nTeam rule: short PRDs.\n")
    second = analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert "(fetched the changes)" in log_of(second)
    assert second.base_sha == sha != first.base_sha
    found = {f["code"] for f in second.report["findings"]} - edited
    assert found, "the hand edit pushed since the first analysis is reported"
    paths = [p for f in second.report["findings"] for p in f.get("paths", [])]
    assert PM in paths


def test_a_budget_of_zero_keeps_no_mirror(  # type: ignore[no-untyped-def]
    bmad_project, owner, run_worker, django_capture_on_commit_callbacks, work, settings
):
    analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert mirror_folders(work) == [str(bmad_project.pk)]
    settings.MIRROR_BUDGET_MB = 0
    run = analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert "Mirror" not in log_of(run)
    assert mirror_folders(work) == []  # the one left from before is gone too
    run = analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert mirror_folders(work) == []


def test_a_mirror_over_the_budget_is_evicted_after_its_run(  # type: ignore[no-untyped-def]
    bmad_project,
    owner,
    run_worker,
    django_capture_on_commit_callbacks,
    work,
    settings,
    bmad_remote,
    tmp_path,
):
    push_change(bmad_remote, tmp_path, "assets/data.txt", os.urandom(600_000).hex())
    settings.MIRROR_BUDGET_MB = 1  # the file alone takes 1.2 MB in the work tree
    for _ in range(2):
        run = analyze(bmad_project, owner, run_worker, django_capture_on_commit_callbacks)
        assert "(cloned afresh)" in log_of(run)
        assert mirror_folders(work) == []


def test_provisioning_runs_keep_their_fresh_clones(  # type: ignore[no-untyped-def]
    bmad_project, owner, run_worker, django_capture_on_commit_callbacks, work
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_create(project=bmad_project, kind=RunKind.PROVISION, actor=owner)
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert "Cloned main" in log_of(run)
    assert mirror_folders(work) == []


def test_only_a_run_that_grew_its_mirror_scans_the_others_for_eviction(  # type: ignore[no-untyped-def]
    analyzed, bmad_project, work, settings, bmad_remote, tmp_path
):
    """A reuse that kept the work tree leaves its mirror's recorded size as it was, so the
    total cannot have gone over the budget: no scan of every mirror's record. A run
    whose mirror grew scans and evicts as always."""
    analyzed()
    root = work / "mirrors"
    stale = root / "stale"
    stale.mkdir()
    fd = os.open(root / "stale.lock", os.O_CREAT | os.O_WRONLY, 0o600)
    os.ftruncate(fd, 64 * 1024 * 1024)  # records 64 MB, least recently used
    os.close(fd)
    os.utime(root / "stale.lock", (1, 1))
    settings.MIRROR_BUDGET_MB = 40  # over the budget only with the stale mirror
    warm = analyzed()
    assert "the last report is reused" in log_of(warm)
    assert stale.is_dir()  # nothing grew: not scanned
    skill = (root / str(bmad_project.pk) / "repo" / PM).read_text()
    push_change(bmad_remote, tmp_path, PM, skill + "\nTeam rule: short PRDs.\n")
    grown = analyzed()
    assert "(fetched the changes)" in log_of(grown)
    assert "the last report is reused" not in log_of(grown)
    assert not stale.exists()  # the mirror grew: scanned, and the stale one evicted
    assert mirror_folders(work) == [str(bmad_project.pk)]
