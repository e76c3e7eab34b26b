"""The lock file: stable JSON, defensive parsing."""

from __future__ import annotations

import json

import pytest

from provisioning.engine.lockfile import Lock, LockEntry, dumps_lock, parse_lock, text_sha256


def _lock() -> Lock:
    return Lock(
        "1.0.0",
        "ab" * 32,
        {"b/x.md": LockEntry(text_sha256("x"), "x"), "a/y.md": LockEntry(text_sha256("y"), "y")},
    )


def test_lock_round_trips_and_is_stably_sorted() -> None:
    text = dumps_lock(_lock())
    assert text == dumps_lock(_lock())
    assert text.index('"a/y.md"') < text.index('"b/x.md"')
    read = parse_lock(text)
    assert read.problems == ()
    assert read.lock.files["b/x.md"].base == "x"
    assert read.lock.manifest_revision == "ab" * 32


def test_absent_lock_is_empty_without_problems() -> None:
    read = parse_lock(None)
    assert read.lock.files == {}
    assert read.problems == ()


@pytest.mark.parametrize(
    "text",
    ["{", "[]", "null", '{"files": []}', "x" * 10, "[" * 100_000, '{"files": "nope"}'],
)
def test_malformed_lock_is_treated_as_absent_with_a_problem(text: str) -> None:
    read = parse_lock(text)
    assert read.lock.files == {}
    assert read.problems


def test_bad_entries_are_dropped_one_by_one() -> None:
    data = json.loads(dumps_lock(_lock()))
    data["files"]["../../etc/passwd"] = {"sha256": "0" * 64, "base": ""}
    data["files"]["c.md"] = {"sha256": 5, "base": "x"}
    data["files"][".git/hooks/pre-commit"] = {"sha256": "0" * 64, "base": ""}
    read = parse_lock(json.dumps(data))
    assert set(read.lock.files) == {"a/y.md", "b/x.md"}
    assert len(read.problems) == 3
