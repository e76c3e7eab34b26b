"""Races on one project (docs/security.md#s18): owners removing each other at the same
moment never leave the project without an owner, and concurrent manifest saves each get
their own revision number (or a clean conflict), never a crash. Real threads, each with
its own connection to the real test database (a file for SQLite, PostgreSQL in CI's
second pass)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from projects import services
from projects.models import ManifestRevision, Membership
from projects.roles import Role
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db(transaction=True)


def _together(calls: list[Callable[[], object]]) -> list[object]:
    """Run each call in its own thread, released together; results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def one(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _kinds(results: list[object]) -> Counter[str]:
    return Counter(type(result).__name__ for result in results)


@pytest.fixture
def two_owners(project, owner, viewer):  # type: ignore[no-untyped-def]
    services.role_grant(actor=owner, project=project, role=Role.OWNER, user=viewer)
    return project, owner, viewer


def _widen_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold every removal between its check and its delete for a moment, so two removals
    overlap whenever nothing serialises them."""
    real = services._sync_object_perms

    def slow(*args: object, **kwargs: object) -> None:
        time.sleep(0.3)
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "_sync_object_perms", slow)


def test_two_owners_removing_each_other_at_once_leave_one_owner(two_owners, monkeypatch):
    project, first, second = two_owners
    _widen_the_window(monkeypatch)
    results = _together(
        [
            lambda: services.role_revoke(
                actor=first, project=project, role=Role.OWNER, user=second
            ),
            lambda: services.role_revoke(
                actor=second, project=project, role=Role.OWNER, user=first
            ),
        ]
    )
    assert _kinds(results) == Counter({"NoneType": 1, "LastOwner": 1})
    assert Membership.objects.filter(project=project, role=Role.OWNER).count() == 1


def test_everyone_removing_every_owner_at_once_leaves_one(project, owner, django_user_model):
    others = [django_user_model.objects.create_user(f"owner{i}") for i in range(4)]
    for user in others:
        services.role_grant(actor=owner, project=project, role=Role.OWNER, user=user)
    everyone = [owner, *others]
    results = _together(
        [
            lambda user=user: services.role_revoke(
                actor=owner, project=project, role=Role.OWNER, user=user
            )
            for user in everyone
        ]
    )
    assert _kinds(results) == Counter({"NoneType": 4, "LastOwner": 1})
    assert Membership.objects.filter(project=project, role=Role.OWNER).count() == 1


def test_the_last_owner_cannot_be_removed_through_the_page(client, project, owner):
    membership = Membership.objects.get(project=project, role=Role.OWNER, user=owner)
    client.force_login(owner)
    response = client.post(f"/p/{project.slug}/members/{membership.pk}/remove/", follow=True)
    assert response.status_code == 200
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.filter(project=project, role=Role.OWNER).count() == 1


def test_concurrent_first_saves_each_get_their_own_revision(project, owner):
    texts = [DEMO_MANIFEST + f"# variant {i}\n" for i in range(6)]
    results = _together(
        [
            lambda text=text: services.manifest_save(actor=owner, project=project, yaml_text=text)
            for text in texts
        ]
    )
    assert set(_kinds(results)) <= {"ManifestRevision", "ManifestConflict"}
    numbers = sorted(
        ManifestRevision.objects.filter(project=project).values_list("number", flat=True)
    )
    saved = [r for r in results if isinstance(r, ManifestRevision)]
    assert numbers == list(range(1, len(saved) + 1))


def test_concurrent_saves_over_the_api_answer_201_or_409(project, owner, redis_conn):
    from django.test import Client

    from bmadweb.tokens import token_create

    services.manifest_save(actor=owner, project=project, yaml_text=DEMO_MANIFEST)
    _, plaintext = token_create(user=owner, name="ci", scopes=["read", "write"], expires_in_days=1)

    def put(i: int) -> int:
        response = Client().put(
            f"/api/v1/projects/{project.slug}/manifest",
            data={"yaml": DEMO_MANIFEST + f"# api {i}\n", "message": f"api {i}"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {plaintext}",
        )
        return response.status_code

    results = _together([lambda i=i: put(i) for i in range(6)])
    assert set(results) <= {201, 409}, results
    numbers = sorted(
        ManifestRevision.objects.filter(project=project).values_list("number", flat=True)
    )
    assert numbers == list(range(1, len(numbers) + 1))
