"""A newer provisioning run closes the older bmadweb pull requests of its project.

Two runs go through the real worker against the local fake forge (GitHub API) with a
manifest change between them: each pushes its own branch and opens its own pull request,
and the second closes the first with a comment pointing to itself. Closing is best effort:
a forge failure there is a warning in the run log, never a failed run.
"""

from __future__ import annotations

import pytest

from projects import services as project_services
from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs import services
from tests.provisioning.forges.fakeforge import FakeForge
from tests.repos import DEMO_MANIFEST, remote_branches

pytestmark = pytest.mark.django_db

FORGE_TOKEN = "supersede-forge-token-81c4"
CHANGED_MANIFEST = DEMO_MANIFEST.replace(
    "WCAG 2.2 AA for every screen.", "WCAG 2.2 AA for every screen and every email."
)


@pytest.fixture
def forge(make_fake_forge) -> FakeForge:  # type: ignore[no-untyped-def]
    return make_fake_forge(token=FORGE_TOKEN)


@pytest.fixture
def pr_project(make_project, bmad_remote, forge, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.WORK_DIR = tmp_path / "work"
    return make_project(
        name="Supersede",
        slug="supersede",
        repo_url=str(bmad_remote),
        forge_kind="github",
        forge_api_url=forge.base_url("github"),
        push_mode="pull_request",
        secrets={"forge_token": FORGE_TOKEN},
        manifest=DEMO_MANIFEST,
    )


@pytest.fixture
def provision(pr_project, owner, redis_conn, run_worker, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    def run_once() -> Run:
        with django_capture_on_commit_callbacks(execute=True):
            run = services.run_create(project=pr_project, kind=RunKind.PROVISION, actor=owner)
        run_worker()
        run.refresh_from_db()
        assert run.status == RunStatus.PUSHED, run.failure_reason
        return run

    return run_once


def _two_runs(provision, pr_project, owner) -> tuple[Run, Run]:  # type: ignore[no-untyped-def]
    first = provision()
    project_services.manifest_save(actor=owner, project=pr_project, yaml_text=CHANGED_MANIFEST)
    return first, provision()


def _log(run: Run) -> str:
    return "\n".join(run.log_entries.values_list("message", flat=True))


def test_second_run_leaves_only_its_own_pull_request_open(
    provision, pr_project, owner, forge
) -> None:  # type: ignore[no-untyped-def]
    first, second = _two_runs(provision, pr_project, owner)
    open_pulls = [p for p in forge.pulls_of("github") if p.state == "open"]
    assert [p.head for p in open_pulls] == [second.branch]
    assert second.pr_url.endswith(f"/pull/{open_pulls[0].number}")
    assert second.pr_url != first.pr_url


def test_first_pull_request_is_closed_with_a_comment_naming_the_new_one(
    provision, pr_project, owner, forge
) -> None:  # type: ignore[no-untyped-def]
    first, second = _two_runs(provision, pr_project, owner)
    [older] = [p for p in forge.pulls_of("github") if p.head == first.branch]
    assert older.state == "closed"
    assert older.comments == [f"Superseded by {second.pr_url} (bmadweb run #{second.pk})."]


def test_second_run_logs_the_closed_pull_request_and_keeps_both_branches(
    provision, pr_project, owner, bmad_remote
) -> None:  # type: ignore[no-untyped-def]
    first, second = _two_runs(provision, pr_project, owner)
    assert f"Closed superseded pull request {first.pr_url}." in _log(second)
    assert {first.branch, second.branch} <= set(remote_branches(bmad_remote))


@pytest.mark.parametrize("status", [422, 502], ids=["refused", "forge-down"])
def test_forge_failing_to_close_is_a_warning_not_a_failed_run(
    provision, pr_project, owner, forge, status
) -> None:  # type: ignore[no-untyped-def]
    first = provision()
    project_services.manifest_save(actor=owner, project=pr_project, yaml_text=CHANGED_MANIFEST)
    forge.fail_next(status, method="PATCH")  # the close call; creating the new one is a POST
    second = provision()  # asserts the run is pushed
    assert second.pr_url
    warnings = second.log_entries.filter(level="warning").values_list("message", flat=True)
    assert [w for w in warnings if w.startswith("Could not close the older pull requests")]
    [older] = [p for p in forge.pulls_of("github") if p.head == first.branch]
    assert older.state == "open"
    assert FORGE_TOKEN not in _log(second)
