"""Replaying a stored delivery (provisioning.webhooks.replay): it joins a queued run or
starts a new analysis, is busy during a provision, never replays a forgery, and only
managers replay, from the UI or the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from provisioning.models import Run, RunKind, WebhookDelivery
from provisioning.runs import services
from provisioning.webhooks.replay import WebhookReplayError, webhook_replay
from tests.provisioning.webhooks.webhook_helpers import push, runs

pytestmark = pytest.mark.django_db


def test_replay_while_the_run_is_queued_joins_it_instead_of_starting_another(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    result = webhook_replay(delivery=original, actor=owner)
    assert (result.outcome, result.delivery.replay_of_id) == ("accepted", original.pk)
    assert result.run_id == original.run_id
    assert runs(project) == 1


def test_replay_after_the_run_ended_starts_a_new_analysis(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    services.run_cancel(run=original.run, actor=owner)
    result = webhook_replay(delivery=original, actor=owner)
    assert result.status == 202
    assert runs(project) == 2
    assert result.delivery.replayed_by == owner


def test_replay_while_a_provision_is_active_is_busy(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret, ref="refs/heads/main")
    services.run_cancel(run=Run.objects.get(), actor=owner)
    services.run_create(project=project, kind=RunKind.PROVISION, actor=owner, enqueue=False)
    result = webhook_replay(delivery=WebhookDelivery.objects.get(), actor=owner)
    assert result.outcome == "busy"
    assert runs(project) == 2


def test_forged_delivery_cannot_be_replayed(client, hooked, owner):
    project, _ = hooked
    push(client, project, "not-the-secret")
    forged = WebhookDelivery.objects.get()
    assert forged.body is None
    with pytest.raises(WebhookReplayError):
        webhook_replay(delivery=forged, actor=owner)
    assert runs(project) == 0


def test_owner_replays_from_the_ui_and_is_redirected(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    client.force_login(owner)
    url = reverse(
        "deliveries:delivery-replay", kwargs={"slug": project.slug, "delivery_id": original.pk}
    )
    response = client.post(url)
    assert response.status_code == 302
    assert WebhookDelivery.objects.filter(replay_of=original).count() == 1
    assert runs(project) == 1


@pytest.mark.parametrize(("who", "status"), [("outsider", 404), ("viewer", 403)])
def test_only_managers_can_replay(client, hooked, request, who, status):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    client.force_login(request.getfixturevalue(who))
    url = reverse(
        "deliveries:delivery-replay", kwargs={"slug": project.slug, "delivery_id": original.pk}
    )
    assert client.post(url).status_code == status
    assert WebhookDelivery.objects.count() == 1


def test_replay_of_another_projects_delivery_is_404(client, hooked, owner, make_project):
    project, secret = hooked
    push(client, project, secret)
    other = make_project()
    client.force_login(owner)
    url = reverse(
        "deliveries:delivery-replay",
        kwargs={"slug": other.slug, "delivery_id": WebhookDelivery.objects.get().pk},
    )
    assert client.post(url).status_code == 404


def test_replay_needs_post(client, hooked, owner):
    project, secret = hooked
    push(client, project, secret)
    client.force_login(owner)
    url = reverse(
        "deliveries:delivery-replay",
        kwargs={"slug": project.slug, "delivery_id": WebhookDelivery.objects.get().pk},
    )
    assert client.get(url).status_code == 405


def test_admin_action_replays_selected_deliveries(client, hooked, staff):
    project, secret = hooked
    push(client, project, secret)
    original = WebhookDelivery.objects.get()
    services.run_cancel(run=original.run, actor=staff)
    client.force_login(staff)
    response = client.post(
        reverse("admin:provisioning_webhookdelivery_changelist"),
        {"action": "replay_deliveries", "_selected_action": [original.pk]},
    )
    assert response.status_code == 302
    assert WebhookDelivery.objects.filter(replay_of=original).get().outcome == "accepted"
    assert runs(project) == 2


def test_admin_ledger_list_and_detail_render(client, hooked, staff):
    project, secret = hooked
    push(client, project, secret)
    client.force_login(staff)
    assert client.get(reverse("admin:provisioning_webhookdelivery_changelist")).status_code == 200
    pk = WebhookDelivery.objects.get().pk
    assert (
        client.get(reverse("admin:provisioning_webhookdelivery_change", args=[pk])).status_code
        == 200
    )
