"""The notifications pages: who may use them, hostile input as form errors (never a 500),
every change audited without its secret (docs/security.md#notifications)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord
from projects import services as project_services
from projects.models import BaseManifest
from projects.roles import Role
from provisioning.models import NotificationDelivery, NotificationTarget
from provisioning.notifications import services

pytestmark = pytest.mark.django_db


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _page(project) -> str:  # type: ignore[no-untyped-def]
    return reverse("notifications:project-notifications", args=[project.slug])


@pytest.fixture
def target(project, owner):  # type: ignore[no-untyped-def]
    made, _ = services.notification_target_create(
        actor=owner,
        project=project,
        name="ops",
        kind="webhook",
        url="http://127.0.0.1:9/hook",
        events=["run_failed"],
    )
    return made


def _routes(project, target) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    delivery = NotificationDelivery.objects.create(target=target, event="test", status="failed")
    args = [project.slug, target.pk]
    return [
        ("GET", _page(project)),
        ("POST", _page(project)),
        ("POST", reverse("notifications:project-notification-update", args=args)),
        ("POST", reverse("notifications:project-notification-test", args=args)),
        ("POST", reverse("notifications:project-notification-delete", args=args)),
        (
            "POST",
            reverse("notifications:project-notification-retry", args=[project.slug, delivery.pk]),
        ),
    ]


def test_viewers_and_editors_get_403_outsiders_404_anonymous_a_sign_in(
    project, owner, viewer, outsider, target, django_user_model
):
    editor = django_user_model.objects.create_user("edith", password="editor-pass-12345")
    project_services.role_grant(actor=owner, project=project, role=Role.EDITOR, user=editor)
    routes = _routes(project, target)
    for user, expected in ((viewer, 403), (editor, 403), (outsider, 404)):
        client = _client(user)
        for method, path in routes:
            response = client.generic(method, path)
            assert response.status_code == expected, (user.username, method, path)
    anonymous = Client()
    for method, path in routes:
        response = anonymous.generic(method, path)
        assert response.status_code == 302, path
        assert "/login/" in response["Location"]
    assert NotificationTarget.objects.filter(pk=target.pk).exists()


def test_owners_manage_targets_and_every_change_is_audited_without_secrets(
    project, owner, django_capture_on_commit_callbacks
):
    client = _client(owner)
    page = _page(project)
    response = client.post(
        page,
        {
            "name": "ops",
            "kind": "webhook",
            "url": "http://127.0.0.1:9/hook/path-token-abcdef123",
            "events": ["run_failed", "drift_found"],
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    made = NotificationTarget.objects.get(project=project)
    secret = made.get_secret()
    assert made.events == ["drift_found", "run_failed"]
    shown = client.get(page).content.decode()
    assert secret in shown  # once
    assert secret not in client.get(page).content.decode()  # and never again
    prefix = f"t{made.pk}"
    update = reverse("notifications:project-notification-update", args=[project.slug, made.pk])
    client.post(update, {f"{prefix}-name": "ops room", f"{prefix}-events": ["approval_needed"]})
    made.refresh_from_db()
    assert (made.name, made.events, made.enabled) == ("ops room", ["approval_needed"], False)
    test = reverse("notifications:project-notification-test", args=[project.slug, made.pk])
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(test).status_code == 302
    assert NotificationDelivery.objects.filter(target=made, event="test").count() == 1
    delete = reverse("notifications:project-notification-delete", args=[project.slug, made.pk])
    assert client.post(delete).status_code == 302
    assert not NotificationTarget.objects.filter(pk=made.pk).exists()
    records = [r for r in AuditRecord.objects.order_by("seq") if r.action.startswith("notif")]
    assert [r.action for r in records] == [
        "notification.create",
        "notification.update",
        "notification.test",
        "notification.delete",
    ]
    payloads = json.dumps([audit_payload(r) for r in records])
    assert "path-token-abcdef123" not in payloads
    assert secret not in payloads
    assert '"url": "http://127.0.0.1:9/\\u2026"' in payloads  # the redacted form only
    audit_page = client.get(reverse("projects:project-audit", args=[project.slug]))
    text = audit_page.content.decode()
    assert "added the notification target “ops” (http://127.0.0.1:9/…)" in text
    assert "path-token-abcdef123" not in text


HOSTILE = [
    {"name": "n" * 101, "kind": "webhook", "url": "http://127.0.0.1:9/hook"},
    {"name": "x", "kind": "webhook", "url": "https://example.com/" + "a" * 1200},
    {"name": "x", "kind": "webhook", "url": "not a url"},
    {"name": "x", "kind": "webhook", "url": "https://10.0.0.7/hook"},
    {"name": "x", "kind": "webhook", "url": "https://169.254.169.254/latest/meta-data"},
    {"name": "x", "kind": "webhook", "url": "https://metadata.google.internal/x"},
    {"name": "x", "kind": "webhook", "url": "file:///etc/passwd"},
    {"name": "x", "kind": "webhook", "url": "https://u:p@example.com/"},
    {"name": "x", "kind": "webhook", "url": "https://exa\u0442mple.com/"},
    {"name": "x", "kind": "apprise", "url": "ftp://example.com/"},
    {"name": "x", "kind": "apprise", "url": "windows://"},
    {"name": "x", "kind": "apprise", "url": "json://"},
    {"name": "x", "kind": "apprise", "url": "json://10.0.0.1/x"},
    {"name": "x", "kind": "apprise", "url": "mailtos://u:p@example.com?smtp=192.168.0.1"},
    {"name": "x", "kind": "apprise", "url": "json://[::1]:80/x"},
    {"name": "x", "kind": "ftp", "url": "http://127.0.0.1:9/hook"},
    {"name": "x", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "events": ["nope"]},
    {"name": "", "kind": "", "url": ""},
]


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_input_is_a_form_error_never_a_500_and_never_echoed(project, owner, data):
    client = _client(owner)
    response = client.post(_page(project), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="field-error"' in html
    assert not NotificationTarget.objects.exists()
    if len(data["url"]) > 12:
        assert data["url"] not in html  # the URL field is write-only, even after an error


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x", "kind": "webhook", "url": "http://127.0.0.1:9/\x00"},
        {"name": "x\x00y", "kind": "webhook", "url": "http://127.0.0.1:9/hook"},
    ],
)
def test_nul_bytes_are_refused_400_by_the_request_guard(project, owner, data):
    response = _client(owner).post(_page(project), data)
    assert response.status_code == 400  # bmadweb.request_guard, before the view
    assert not NotificationTarget.objects.exists()


def test_nul_bytes_in_a_service_call_are_refused_cleanly(project, owner):
    from provisioning.notifications.urlcheck import TargetUrlError

    with pytest.raises(TargetUrlError, match="printable ASCII"):
        services.notification_target_create(
            actor=owner, project=project, name="x", kind="webhook",
            url="http://127.0.0.1:9/\x00", events=[],
        )  # fmt: skip
    assert not NotificationTarget.objects.exists()


def test_retry_of_another_projects_delivery_is_404(project, owner, target, make_project):
    mine = make_project(slug="mine", name="Mine")
    delivery = NotificationDelivery.objects.create(target=target, event="test", status="failed")
    client = _client(owner)
    other = reverse("notifications:project-notification-retry", args=[mine.slug, delivery.pk])
    assert client.post(other).status_code == 404
    update = reverse("notifications:project-notification-update", args=[mine.slug, target.pk])
    assert client.post(update, {}).status_code == 404


def test_base_manifest_targets_are_for_staff_only(owner, staff, django_capture_on_commit_callbacks):
    base = BaseManifest.objects.create(name="platform")
    page = reverse("notifications:base-notifications", args=[base.name])
    assert _client(owner).get(page).status_code == 403
    assert _client(owner).post(page, {"name": "x"}).status_code == 403
    client = _client(staff)
    assert client.get(page).status_code == 200
    assert client.get(reverse("notifications:base-notifications", args=["nope"])).status_code == 404
    response = client.post(
        page,
        {
            "name": "chat",
            "kind": "apprise",
            "url": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7",
            "events": ["drift_found"],
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    made = NotificationTarget.objects.get(base=base)
    html = client.get(page).content.decode()
    assert "slack://…" in html
    assert "TIiajkdnlazkcOXrIdevi7" not in html
    for name in ("update", "test", "delete"):
        path = reverse(f"notifications:base-notification-{name}", args=[base.name, made.pk])
        assert _client(owner).post(path).status_code == 403
    record = AuditRecord.objects.filter(action="notification.create").get()
    assert record.project_id is None
    assert audit_payload(record)["base"] == "platform"


def test_key_rotation_re_encrypts_target_urls_and_secrets(project, owner, settings):
    from cryptography.fernet import Fernet

    from bmadweb.services import keys_rotate

    made, secret = services.notification_target_create(
        actor=owner,
        project=project,
        name="ops",
        kind="webhook",
        url="http://127.0.0.1:9/hook",
        events=[],
    )
    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, *settings.FERNET_KEYS]
    assert keys_rotate().notification_values == 2
    settings.FERNET_KEYS = [new_key]
    made.refresh_from_db()
    assert made.get_url() == "http://127.0.0.1:9/hook"
    assert made.get_secret() == secret
