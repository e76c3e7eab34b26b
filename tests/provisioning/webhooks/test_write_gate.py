"""The SQLite write gate: writers queue on it one at a time, and nesting does not deadlock."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from provisioning.webhooks.write_gate import _gate_path, write_gate, write_transaction

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the gate queues SQLite writers only"
)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="checks the other databases")
def test_gate_is_off_for_databases_with_concurrent_writers():
    assert _gate_path() is None
    with write_gate():  # a no-op: PostgreSQL's row locks do the work
        pass


@sqlite_only
def test_gate_file_is_outside_the_database_files():
    path = _gate_path()
    assert path is not None
    assert not path.startswith(str(connection.settings_dict["NAME"]))


@sqlite_only
def test_second_writer_waits_at_the_gate_until_the_first_leaves():
    inside, release, second_in = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with write_gate():
            inside.set()
            release.wait(timeout=10)

    def second() -> None:
        inside.wait(timeout=10)
        with write_gate():
            second_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inside.wait(timeout=10)
    assert not second_in.wait(timeout=0.3), "the second writer passed while the first held it"
    release.set()
    assert second_in.wait(timeout=10)
    for thread in threads:
        thread.join(timeout=10)


def test_nested_write_transactions_do_not_deadlock():
    @write_transaction
    def inner() -> None:
        Group.objects.create(name="inner")

    @write_transaction
    def outer() -> None:
        Group.objects.create(name="outer")
        inner()

    outer()
    assert Group.objects.filter(name__in=["inner", "outer"]).count() == 2
