"""/audit and /audit/verify: permission-filtered, paginated, tamper reported."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bmadweb.audit import audit_record
from bmadweb.models import AuditRecord

pytestmark = pytest.mark.django_db

AUDIT = "ops:audit-list"
VERIFY = "ops:audit-verify"


@pytest.fixture
def foreign_project(make_project, outsider):  # type: ignore[no-untyped-def]
    """A project the outsider owns and nobody else holds a role on."""
    return make_project(actor=outsider, name="Oscar's Secret Lab", slug="secretlab")


def _audit(client, **params):  # type: ignore[no-untyped-def]
    return client.get(reverse(AUDIT), params)


def _slugs(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {r["project"] for r in response.json()["results"]}


def test_anonymous_gets_401_json(client, project):
    response = _audit(client)
    assert response.status_code == 401
    assert "error" in response.json()


def test_owner_sees_own_project_records_with_decrypted_payloads(client, project, owner):
    client.force_login(owner)
    response = _audit(client)
    assert response.status_code == 200
    grant = next(r for r in response.json()["results"] if r["action"] == "role.grant")
    assert grant["project"] == "healthai"
    assert grant["payload"]["role"] == "viewer"


def test_owner_never_sees_another_project_records(client, project, foreign_project, owner):
    client.force_login(owner)
    response = _audit(client, page_size=200)
    assert _slugs(response) == {"healthai"}
    assert "Secret Lab" not in response.content.decode()


def test_outsider_sees_no_foreign_records(client, project, foreign_project, outsider):
    client.force_login(outsider)
    assert "healthai" not in _slugs(_audit(client, page_size=200))


def test_viewer_without_manage_sees_no_project_records(client, project, viewer):
    client.force_login(viewer)
    assert _audit(client).json()["results"] == []


def test_own_account_records_are_visible_but_not_others(client, project, owner, outsider):
    audit_record(action="auth.login", actor=outsider, payload={"ip": "192.0.2.1"})
    audit_record(action="auth.login", actor=owner, payload={"ip": "192.0.2.2"})
    client.force_login(outsider)
    logins = [r for r in _audit(client).json()["results"] if r["action"] == "auth.login"]
    assert [r["actor"] for r in logins] == ["oscar"]


def test_superuser_sees_every_record(client, project, foreign_project, staff):
    audit_record(action="platform.event")
    client.force_login(staff)
    body = _audit(client, page_size=200).json()
    assert body["count"] == AuditRecord.objects.count()
    assert {"healthai", "secretlab", None} <= _slugs(_audit(client, page_size=200))


def test_project_filter_limits_to_that_project(client, project, foreign_project, staff):
    client.force_login(staff)
    assert _slugs(_audit(client, project="secretlab")) == {"secretlab"}


def test_project_filter_on_a_foreign_project_is_404(client, project, foreign_project, owner):
    client.force_login(owner)
    response = _audit(client, project="secretlab")
    assert response.status_code == 404
    assert "Secret Lab" not in response.content.decode()


def test_project_filter_for_a_viewer_is_403(client, project, viewer):
    client.force_login(viewer)
    assert _audit(client, project="healthai").status_code == 403


def test_pages_are_newest_first_with_links(client, project, owner):
    for i in range(7):
        audit_record(action="test.event", actor=owner, project=project, payload={"i": i})
    total = AuditRecord.objects.filter(project=project).count()
    client.force_login(owner)
    first = _audit(client, page_size=3).json()
    seqs = [r["seq"] for r in first["results"]]
    assert seqs == sorted(seqs, reverse=True)
    assert seqs[0] == AuditRecord.objects.order_by("-seq").first().seq
    assert first["count"] == total
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert "page_size=3" in first["next"]
    last_page = (total + 2) // 3
    last = _audit(client, page_size=3, page=last_page).json()
    assert last["next"] is None
    assert f"page={last_page - 1}" in last["previous"]
    assert len(last["results"]) == total - 3 * (last_page - 1)


@pytest.mark.parametrize(
    ("name", "value"),
    [("page_size", "201"), ("page_size", "0"), ("page", "abc"), ("page", "-1"), ("page", "²")],
)
def test_bad_paging_values_are_400_with_a_message(client, project, owner, name, value):
    client.force_login(owner)
    response = _audit(client, **{name: value})
    assert response.status_code == 400
    assert name in response.json()["error"]


def test_undecryptable_payload_is_null_with_an_error(client, project, owner):
    record = audit_record(action="test.event", actor=owner, project=project, payload={"a": 1})
    AuditRecord.objects.filter(pk=record.pk).update(payload_enc="not-a-fernet-token")
    client.force_login(owner)
    entry = next(r for r in _audit(client).json()["results"] if r["seq"] == record.seq)
    assert entry["payload"] is None
    assert entry["error"] == "cannot decrypt"


def test_verify_is_200_when_the_chain_is_intact(client, project, staff):
    client.force_login(staff)
    response = client.get(reverse(VERIFY))
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["checked"] == AuditRecord.objects.count()


def test_verify_is_409_naming_the_tampered_record(client, project, staff):
    target = AuditRecord.objects.order_by("seq")[1]
    AuditRecord.objects.filter(pk=target.pk).update(actor_name="mallory")
    client.force_login(staff)
    response = client.get(reverse(VERIFY))
    assert response.status_code == 409
    assert response.json()["ok"] is False
    assert response.json()["first_bad_seq"] == target.seq
    assert response.json()["reason"]


def test_verify_is_for_superusers_only(client, project, owner):
    assert client.get(reverse(VERIFY)).status_code == 401
    client.force_login(owner)
    assert client.get(reverse(VERIFY)).status_code == 403
