"""Each event fires exactly once for its trigger, through real runs on a real bare remote,
RQ's SimpleWorker and a local receiver (docs/architecture.md#notifications)."""

from __future__ import annotations

import json

import pytest

from projects import services as project_services
from provisioning.campaigns.services import campaign_create
from provisioning.models import (
    CampaignStatus,
    NotificationDelivery,
    Run,
    RunKind,
    RunStatus,
)
from provisioning.notifications import services
from provisioning.runs import services as run_services

pytestmark = pytest.mark.django_db

ALL = ["drift_found", "run_failed", "approval_needed", "campaign_finished"]

BASE = """\
apiVersion: bmadweb/v1
project:
  bmad_version: ">=6.4,<7"
  modules: [core, bmm]
  tools: [claude-code]
leaders:
  - id: sec-leader
    name: Security Leader
    domain: security
"""

EXTENDING = """\
apiVersion: bmadweb/v1
extends: [platform]
project:
  name: healthai
leaders:
  - id: dev-leader
    name: Dev Leader
    domain: engineering
"""


@pytest.fixture
def settle(run_all, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Run every job, and the jobs their commits enqueue, until nothing is left."""

    def work() -> None:
        for _ in range(10):
            with django_capture_on_commit_callbacks(execute=True) as callbacks:
                run_all()
            if not callbacks:
                return
        raise AssertionError("jobs kept enqueueing jobs")

    return work


def _hook(owner, receiver, capture, events, **owner_of):  # type: ignore[no-untyped-def]
    with capture(execute=True):
        target, _ = services.notification_target_create(
            actor=owner, name="ops", kind="webhook", url=receiver.url(), events=events, **owner_of
        )
    return target


def _start(project, owner, kind, capture) -> Run:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        return run_services.run_create(project=project, kind=kind, actor=owner)


def _events_received(receiver) -> list[str]:  # type: ignore[no-untyped-def]
    return [json.loads(r.body)["event"] for r in receiver.received]


def test_run_failed_fires_once(
    project, owner, receiver, settle, django_capture_on_commit_callbacks
):
    _hook(owner, receiver, django_capture_on_commit_callbacks, ALL, project=project)
    run = _start(project, owner, RunKind.ANALYZE, django_capture_on_commit_callbacks)
    settle()  # the folder is no git repository: the clone fails the run
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert _events_received(receiver) == ["run_failed"]
    body = json.loads(receiver.received[0].body)
    assert body["run"] == {"id": run.pk, "kind": "analyze", "status": "failed"}
    assert body["url"].endswith(f"/runs/{run.pk}/")
    assert NotificationDelivery.objects.get().status == "sent"


def test_drift_found_fires_once_and_not_again_while_the_drift_stays(
    bmad_project, owner, receiver, settle, django_capture_on_commit_callbacks
):
    _hook(owner, receiver, django_capture_on_commit_callbacks, ALL, project=bmad_project)
    first = _start(bmad_project, owner, RunKind.ANALYZE, django_capture_on_commit_callbacks)
    settle()
    first.refresh_from_db()
    assert first.report["status"] == "drift"
    assert _events_received(receiver) == ["drift_found"]
    again = _start(bmad_project, owner, RunKind.ANALYZE, django_capture_on_commit_callbacks)
    settle()
    again.refresh_from_db()
    assert again.status == RunStatus.SUCCEEDED
    assert _events_received(receiver) == ["drift_found"]  # still drifted: no second message
    assert NotificationDelivery.objects.count() == 1


def test_approval_needed_fires_once(
    bmad_project, owner, receiver, settle, django_capture_on_commit_callbacks
):
    bmad_project.require_approval = True
    bmad_project.save()
    _hook(owner, receiver, django_capture_on_commit_callbacks, ALL, project=bmad_project)
    run = _start(bmad_project, owner, RunKind.PROVISION, django_capture_on_commit_callbacks)
    settle()
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL
    assert _events_received(receiver) == ["approval_needed"]  # a provision run's report: no drift
    assert "awaits approval" in json.loads(receiver.received[0].body)["text"]


def test_campaign_finished_fires_once(
    bmad_project, owner, receiver, settle, django_capture_on_commit_callbacks
):
    _hook(
        owner, receiver, django_capture_on_commit_callbacks, ["campaign_finished"],
        project=bmad_project,
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_create(
            actor=owner, name="weekly check", kind=RunKind.ANALYZE, projects=[bmad_project]
        )
    settle()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED
    assert _events_received(receiver) == ["campaign_finished"]
    body = json.loads(receiver.received[0].body)
    assert body["campaign"]["name"] == "weekly check"
    assert body["counts"] == {"done": 1}


def test_a_base_manifests_targets_hear_the_projects_that_extend_it(
    make_project, bmad_remote, owner, staff, receiver, settle, django_capture_on_commit_callbacks
):
    base = project_services.base_save(actor=staff, name="platform", yaml_text=BASE).base
    project = make_project(
        slug="healthai", repo_url=str(bmad_remote), forge_kind="other", push_mode="branch",
        manifest=EXTENDING,
    )  # fmt: skip
    _hook(staff, receiver, django_capture_on_commit_callbacks, ["drift_found"], base=base)
    _start(project, owner, RunKind.ANALYZE, django_capture_on_commit_callbacks)
    settle()
    assert _events_received(receiver) == ["drift_found"]
    delivery = NotificationDelivery.objects.get()
    assert delivery.project == project
    # A project that does not extend the base is not heard: its failure goes nowhere.
    unrelated = make_project(slug="unrelated")
    _start(unrelated, owner, RunKind.ANALYZE, django_capture_on_commit_callbacks)
    settle()
    assert NotificationDelivery.objects.count() == 1


def test_disabled_targets_and_unwanted_events_send_nothing(
    project, owner, receiver, settle, django_capture_on_commit_callbacks
):
    target = _hook(owner, receiver, django_capture_on_commit_callbacks, ALL, project=project)
    services.notification_target_update(
        actor=owner, target=target, name="ops", events=ALL, enabled=False
    )
    _hook(owner, receiver, django_capture_on_commit_callbacks, ["drift_found"], project=project)
    _start(project, owner, RunKind.ANALYZE, django_capture_on_commit_callbacks)
    settle()
    assert receiver.received == []
    assert NotificationDelivery.objects.count() == 0
