"""A damaged column of any audit record (timestamps included) names that record in
`audit_verify`, /audit, /audit/verify and the project's audit page, never a crash
(docs/security.md#s21). The damage is written with raw SQL, as someone with the database
would: values no ORM save would produce (text in a number column on SQLite, a timestamp
PostgreSQL holds as 'infinity', a non-hex MAC, binary data in a text column)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from bmadweb.audit import audit_record, audit_verify
from bmadweb.models import AuditRecord

pytestmark = pytest.mark.django_db

TABLE = AuditRecord._meta.db_table
SQLITE = connection.vendor == "sqlite"


def _corrupt(seq: int, column: str, sql_value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET {column} = {sql_value} WHERE seq = %s", [seq])  # noqa: S608


# (column, SQL value, backends it can be stored on, first bad seq minus the damaged seq)
DAMAGE = [
    ("created", "'infinity'" if not SQLITE else "'not a time'", "both", 0),
    ("created", "'294276-01-01 00:00:00+00'" if not SQLITE else "'2026-13-45 99:99'", "both", 0),
    ("mac", "'" + "é" * 64 + "'", "both", 0),
    ("prev_mac", "'xyz'", "both", 0),
    # A sequence number that is not a number sorts elsewhere: the walk expects the damaged
    # record next, finds the one after it and names that one.
    ("seq", "'three'", "sqlite", 1),
    ("action", "X'00ff'", "sqlite", 0),
    ("payload_enc", "X'00ff'", "sqlite", 0),
    ("actor_name", "X'00ff'", "sqlite", 0),
]


def _cases() -> list:
    cases = []
    for column, value, where, offset in DAMAGE:
        marks = [] if where == "both" or SQLITE else [pytest.mark.skip("SQLite only")]
        cases.append(pytest.param(column, value, offset, marks=marks, id=f"{column}={value[:12]}"))
    return cases


@pytest.fixture
def chain(project, owner):  # type: ignore[no-untyped-def]
    for i in range(4):
        audit_record(action="test.event", actor=owner, project=project, payload={"i": i})
    return AuditRecord.objects.order_by("seq").values_list("seq", flat=True)[2]


@pytest.mark.parametrize(("column", "value", "offset"), _cases())
def test_verify_names_the_damaged_record(chain, column, value, offset):
    _corrupt(chain, column, value)
    result = audit_verify()
    assert not result.ok
    assert result.first_bad_seq == chain + offset
    if offset:
        assert f"expected record #{chain} next" in result.reason
    else:
        assert result.reason.startswith("it is damaged: ")


@pytest.mark.parametrize(("column", "value", "offset"), _cases())
def test_verify_command_names_the_damaged_record(chain, column, value, offset, capsys):
    _corrupt(chain, column, value)
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit_verify")
    assert exit_info.value.code == 1
    assert f"#{chain}" in capsys.readouterr().err


@pytest.mark.parametrize(("column", "value", "offset"), _cases())
def test_audit_pages_list_the_damaged_record_with_an_error(
    chain, column, value, offset, client, staff, project
):
    _corrupt(chain, column, value)
    client.force_login(staff)
    response = client.get(reverse("ops:audit-list"), {"page_size": 200})
    assert response.status_code == 200
    damaged = [entry for entry in response.json()["results"] if entry.get("error")]
    assert len(damaged) == 1
    assert damaged[0]["payload"] is None
    verify = client.get(reverse("ops:audit-verify"))
    assert verify.status_code == 409
    assert verify.json()["first_bad_seq"] == chain + offset
    page = client.get(reverse("projects:project-audit", kwargs={"slug": project.slug}))
    assert page.status_code == 200
