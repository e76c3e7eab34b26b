"""Campaigns: many projects, a concurrency limit, one approval checked per project,
retry and cancel; real bare remotes and RQ's SimpleWorker in burst mode."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects import services as project_services
from projects.roles import Role
from provisioning.campaigns import services
from provisioning.models import (
    Campaign,
    CampaignItem,
    CampaignItemState,
    CampaignStatus,
    Run,
    RunKind,
    RunStatus,
)
from tests.repos import DEMO_MANIFEST, make_remote

pytestmark = pytest.mark.django_db


def _projects(make_project, tmp_path, count, **extra):  # type: ignore[no-untyped-def]
    return [
        make_project(
            slug=f"fleet-{i:02d}",
            repo_url=str(make_remote(tmp_path, name=f"fleet-{i:02d}.git")),
            forge_kind="other",
            manifest=DEMO_MANIFEST,
            **extra,
        )
        for i in range(count)
    ]


def _drive(run_worker, capture, campaign, rounds=200):  # type: ignore[no-untyped-def]
    """Work the queue until the campaign stops moving (hooks enqueue on commit)."""
    for _ in range(rounds):
        with capture(execute=True):
            run_worker()
        campaign.refresh_from_db()
        active = Run.objects.filter(campaign=campaign, status=RunStatus.QUEUED).exists()
        if campaign.status != CampaignStatus.RUNNING or not active:
            return


def test_an_analyze_campaign_over_fifty_projects_keeps_its_limit(  # type: ignore[no-untyped-def]
    make_project, owner, tmp_path, run_worker, django_capture_on_commit_callbacks
) -> None:
    projects = _projects(make_project, tmp_path, 50)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = services.campaign_create(
            actor=owner, name="fleet", kind=RunKind.ANALYZE, projects=projects, concurrency=5
        )
    assert Run.objects.filter(campaign=campaign).count() == 5  # the limit
    _drive(run_worker, django_capture_on_commit_callbacks, campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED
    states = set(campaign.items.values_list("state", flat=True))
    assert states == {CampaignItemState.DONE}
    runs = Run.objects.filter(campaign=campaign)
    assert runs.count() == 50
    assert set(runs.values_list("status", flat=True)) == {RunStatus.SUCCEEDED}


def test_a_busy_project_waits_and_failures_can_be_retried(  # type: ignore[no-untyped-def]
    make_project, owner, tmp_path, run_worker, django_capture_on_commit_callbacks
) -> None:
    good, busy = _projects(make_project, tmp_path, 2)
    broken = make_project(slug="broken", forge_kind="other", manifest=DEMO_MANIFEST)
    from provisioning.runs import services as run_services

    other = run_services.run_create(project=busy, kind=RunKind.ANALYZE, actor=owner, enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = services.campaign_create(
            actor=owner, name="c", kind=RunKind.ANALYZE, projects=[good, busy, broken]
        )
    assert campaign.items.get(project=busy).state == CampaignItemState.PENDING
    run_services.run_cancel(run=other, actor=owner)
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_advance(campaign_id=campaign.pk)
    _drive(run_worker, django_capture_on_commit_callbacks, campaign)
    items = {i.project.slug: i.state for i in campaign.items.select_related("project")}
    assert items == {
        good.slug: CampaignItemState.DONE,
        busy.slug: CampaignItemState.DONE,
        "broken": CampaignItemState.FAILED,  # an empty folder is no repository
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert services.campaign_retry(campaign=campaign, actor=owner) == 1
    assert campaign.items.get(project=broken).attempts == 2


def test_one_approval_covers_only_projects_the_approver_may_approve(  # type: ignore[no-untyped-def]
    make_project, owner, viewer, tmp_path, run_worker, django_capture_on_commit_callbacks
) -> None:
    projects = _projects(make_project, tmp_path, 3, require_approval=True)
    for p in projects[:2]:
        project_services.role_grant(actor=owner, project=p, role=Role.APPROVER, user=viewer)
    project_services.role_grant(actor=owner, project=projects[2], role=Role.VIEWER, user=viewer)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = services.campaign_create(
            actor=owner, name="p", kind=RunKind.PROVISION, projects=projects
        )
    _drive(run_worker, django_capture_on_commit_callbacks, campaign)
    waiting = Run.objects.filter(campaign=campaign, status=RunStatus.AWAITING_APPROVAL)
    assert waiting.count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        approved, refused = services.campaign_approve(campaign=campaign, actor=viewer)
    assert (sorted(approved), refused) == (sorted(p.slug for p in projects[:2]), [projects[2].slug])
    _drive(run_worker, django_capture_on_commit_callbacks, campaign)
    statuses = dict(Run.objects.filter(campaign=campaign).values_list("project__slug", "status"))
    assert statuses[projects[0].slug] == RunStatus.PUSHED
    assert statuses[projects[2].slug] == RunStatus.AWAITING_APPROVAL
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    services.campaign_cancel(campaign=campaign, actor=owner)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    assert Run.objects.get(project=projects[2], campaign=campaign).status == RunStatus.CANCELLED


def test_a_campaign_needs_the_kind_on_every_project(make_project, owner, viewer) -> None:  # type: ignore[no-untyped-def]
    project = make_project(manifest=DEMO_MANIFEST)
    project_services.role_grant(actor=owner, project=project, role=Role.VIEWER, user=viewer)
    with pytest.raises(services.CampaignError, match="may not start analyze"):
        services.campaign_create(actor=viewer, name="x", kind=RunKind.ANALYZE, projects=[project])


def test_pages_select_start_and_show_a_campaign(  # type: ignore[no-untyped-def]
    client, make_project, owner, outsider, django_capture_on_commit_callbacks
) -> None:
    make_project(slug="alpha", manifest=DEMO_MANIFEST)
    make_project(slug="beta", manifest=DEMO_MANIFEST)
    client.force_login(owner)
    page = client.get(reverse("campaigns:campaign-new"), {"q": "alpha"}).content.decode()
    assert 'value="alpha"' in page
    assert 'value="beta"' not in page
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            reverse("campaigns:campaign-new"),
            {"kind": "analyze", "q": "alpha", "project": ["alpha"], "name": "Mine"},
        )
    campaign = Campaign.objects.get()
    assert started.url == campaign.get_absolute_url()
    detail = client.get(campaign.get_absolute_url()).content.decode()
    assert "Mine" in detail
    assert 'data-project="alpha"' in detail
    assert "<progress" in detail
    client.force_login(outsider)
    assert client.get(campaign.get_absolute_url()).status_code == 404
    assert client.post(reverse("campaigns:campaign-cancel", args=[campaign.pk])).status_code == 404


@pytest.mark.parametrize(
    ("post", "expected"),
    [
        ({"kind": "bogus"}, {"kind": RunKind.ANALYZE}),  # an unknown kind: analyze
        ({"concurrency": "abc"}, {"concurrency": 4}),  # not a number: the default
        ({"concurrency": "0"}, {"concurrency": 1}),
        ({"concurrency": "999"}, {"concurrency": services.MAX_CONCURRENCY}),
        ({"name": ""}, {"name": "analyze campaign"}),
        ({"name": "n" * 500}, {"name": "n" * 120}),
        # Another owner's project is not among the caller's: never part of a campaign.
        ({"project": ["theirs"]}, "Select at least one project."),
        ({"project": ["mine", "theirs"]}, {"items": ["mine"]}),
    ],
    ids=[
        "bogus-kind",
        "concurrency-abc",
        "concurrency-0",
        "concurrency-999",
        "name-empty",
        "name-500",
        "only-foreign-project",
        "foreign-project-beside-own",
    ],
)
def test_the_campaign_form_clamps_or_refuses_bad_input(  # type: ignore[no-untyped-def]
    client, make_project, owner, outsider, post, expected
) -> None:
    make_project(slug="mine", manifest=DEMO_MANIFEST)
    theirs = make_project(slug="theirs", manifest=DEMO_MANIFEST, actor=outsider)
    client.force_login(owner)
    form = {"kind": "analyze", "project": ["mine"], "name": "Checked", **post}
    response = client.post(reverse("campaigns:campaign-new"), form)
    if isinstance(expected, str):
        assert response.status_code == 200  # the form again, with the reason
        assert expected in response.content.decode()
        assert not Campaign.objects.exists()
        return
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response.url == campaign.get_absolute_url()
    items = sorted(campaign.items.values_list("project__slug", flat=True))
    want = {"kind": RunKind.ANALYZE, "concurrency": 4, "name": "Checked", "items": ["mine"]}
    want.update(expected)
    got = {
        "kind": campaign.kind,
        "concurrency": campaign.concurrency,
        "name": campaign.name,
        "items": items,
    }
    assert got == want
    assert not CampaignItem.objects.filter(project=theirs).exists()


def test_campaign_actions_are_audited(make_project, owner) -> None:  # type: ignore[no-untyped-def]
    from bmadweb.audit import audit_payload
    from bmadweb.models import AuditRecord

    projects = [make_project(manifest=DEMO_MANIFEST) for _ in range(2)]
    campaign = services.campaign_create(
        actor=owner, name="audited", kind=RunKind.ANALYZE, projects=projects
    )
    services.campaign_approve(campaign=campaign, actor=owner)
    services.campaign_retry(campaign=campaign, actor=owner)
    services.campaign_cancel(campaign=campaign, actor=owner)
    records = AuditRecord.objects.filter(action__startswith="campaign.").order_by("seq")
    assert [r.action for r in records] == [
        "campaign.create",
        "campaign.approve",
        "campaign.retry",
        "campaign.cancel",
    ]
    assert {r.actor_id for r in records} == {owner.pk}
    created = audit_payload(records[0])
    assert created["campaign"] == campaign.pk
    assert sorted(created["projects"]) == sorted(p.slug for p in projects)
    assert audit_payload(records[3])["not_started"] == 2


def test_an_upgrade_campaign_needs_an_exact_version_and_gives_it_to_every_run(  # type: ignore[no-untyped-def]
    make_project, owner, tmp_path, django_capture_on_commit_callbacks
) -> None:
    from bmadweb.models import AuditRecord

    projects = _projects(make_project, tmp_path, 3)
    for target in ("", "latest", ">=6.12"):
        with pytest.raises(services.CampaignError, match="exact BMAD version"):
            services.campaign_create(
                actor=owner, name="up", kind=RunKind.UPGRADE, projects=projects,
                target_version=target,
            )  # fmt: skip
    assert not Campaign.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        campaign = services.campaign_create(
            actor=owner, name="up", kind=RunKind.UPGRADE, projects=projects,
            concurrency=2, target_version="6.12.0",
        )  # fmt: skip
    runs = list(Run.objects.filter(campaign=campaign))
    assert len(runs) == 2  # the limit
    assert {(r.kind, r.target_version) for r in runs} == {(RunKind.UPGRADE, "6.12.0")}
    assert not campaign.items.filter(state=CampaignItemState.FAILED).exists()
    created = AuditRecord.objects.filter(action="run.create").count()
    assert created == 2  # the campaign is named at creation, no second write of the run


def test_a_campaign_with_a_version_for_another_kind_is_refused(  # type: ignore[no-untyped-def]
    make_project, owner, tmp_path
) -> None:
    projects = _projects(make_project, tmp_path, 1)
    with pytest.raises(services.CampaignError, match="Only upgrade runs take a BMAD version"):
        services.campaign_create(
            actor=owner, name="x", kind=RunKind.ANALYZE, projects=projects,
            target_version="6.12.0",
        )  # fmt: skip


def test_a_batch_job_settles_only_its_campaign_runs_with_one_lookup(  # type: ignore[no-untyped-def]
    make_project, owner, tmp_path, redis_conn, django_capture_on_commit_callbacks
) -> None:
    """A batch of runs (`runs_job`) moves a campaign on after its run, as `run_job` does,
    and finds which of its runs belong to a campaign with one query, not one per run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from provisioning.jobs import runs_job
    from provisioning.runs import services as run_services

    first, second, *loose = _projects(make_project, tmp_path, 5)
    with django_capture_on_commit_callbacks(execute=True):  # the campaign starts a run
        campaign = services.campaign_create(
            actor=owner, name="c", kind=RunKind.ANALYZE, projects=[first, second], concurrency=1
        )
        others = [
            run_services.run_create(project=p, kind=RunKind.ANALYZE, actor=owner) for p in loose
        ]
    [started] = Run.objects.filter(campaign=campaign)
    batch = [others[0].pk, started.pk, others[1].pk, others[2].pk]
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        runs_job(batch)  # inline, as a worker would run the batch
    sql = [q["sql"] for q in queries.captured_queries]
    lookups = [q for q in sql if '"campaign_id" IS NOT NULL' in q]
    settles = [q for q in sql if q.startswith('SELECT "provisioning_run"."campaign_id"')]
    assert (len(lookups), len(settles)) == (1, 1)  # one for the batch, one for its campaign run
    assert set(Run.objects.filter(pk__in=batch).values_list("status", flat=True)) == {
        RunStatus.SUCCEEDED
    }
    # The campaign moved on: its second project's run started.
    assert Run.objects.filter(campaign=campaign, project=second).exists()
