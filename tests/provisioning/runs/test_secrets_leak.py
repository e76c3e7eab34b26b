"""Canary credentials never leak (docs/security.md#s8), and pull requests open through a forge.

A project gets a clone token and a forge token that are unique canary strings; runs go
through the real worker and fail in the ways that tend to print credentials (a remote
with a hook hunting its environment, a forge that echoes the token in its error, a repository
that is gone), or succeed. Then every place a secret could end up is searched: log
records, run logs and results, decrypted audit payloads, every key and value in Redis
(RQ job data included), and the work folder (no clone may be left behind).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import zlib
from pathlib import Path

import pytest
import redis
from django.forms.models import model_to_dict

from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord
from provisioning.models import Run, RunKind, RunLogEntry, RunStatus
from provisioning.runs import services
from tests.provisioning.forges.fakeforge import FakeForge
from tests.repos import DEMO_MANIFEST, remote_branches

pytestmark = pytest.mark.django_db

CLONE_MARK = secrets.token_hex(12)
FORGE_MARK = secrets.token_hex(12)
CLONE_TOKEN = f"canary-clone-{CLONE_MARK}"
FORGE_TOKEN = f"canary-forge-{FORGE_MARK}"
CANARIES = (CLONE_TOKEN, FORGE_TOKEN, CLONE_MARK, FORGE_MARK)


@pytest.fixture
def forge(make_fake_forge) -> FakeForge:  # type: ignore[no-untyped-def]
    return make_fake_forge(token=FORGE_TOKEN)


@pytest.fixture
def work_dir(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.WORK_DIR = tmp_path / "work"
    return settings.WORK_DIR


@pytest.fixture
def canary_project(make_project, bmad_remote, forge):  # type: ignore[no-untyped-def]
    return make_project(
        name="Canary",
        slug="canary",
        repo_url=str(bmad_remote),
        forge_kind="github",
        forge_api_url=forge.base_url("github"),
        push_mode="pull_request",
        secrets={"clone_token": CLONE_TOKEN, "forge_token": FORGE_TOKEN},
        manifest=DEMO_MANIFEST,
    )


def _provision(project, owner, run_worker, capture) -> Run:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        run = services.run_create(project=project, kind=RunKind.PROVISION, actor=owner)
    run_worker()
    run.refresh_from_db()
    return run


def _redis_dump(conn: redis.Redis) -> bytes:
    """Every key and value in Redis, with zlib-compressed RQ job fields also inflated."""
    chunks: list[bytes] = []
    for key in conn.keys("*"):
        kind = conn.type(key).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [conn.get(key) or b""]
        elif kind == "hash":
            values = [part for pair in conn.hgetall(key).items() for part in pair]
        elif kind == "list":
            values = conn.lrange(key, 0, -1)
        elif kind == "set":
            values = list(conn.smembers(key))
        elif kind == "zset":
            values = [member for member, _ in conn.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [p for _, fields in conn.xrange(key) for pair in fields.items() for p in pair]
        chunks.append(key)
        for value in values:
            chunks.append(value)
            with contextlib.suppress(zlib.error):
                chunks.append(zlib.decompress(value))
    return b"\n".join(chunks)


def _everything_stored(redis_conn: redis.Redis, work_dir: Path) -> dict[str, bytes]:
    runs = [model_to_dict(run) for run in Run.objects.all()]
    files = (
        [p.read_bytes() for p in work_dir.rglob("*") if p.is_file()] if work_dir.exists() else []
    )
    return {
        "runs": json.dumps(runs, default=str).encode(),
        "run logs": "\n".join(RunLogEntry.objects.values_list("message", flat=True)).encode(),
        "audit": json.dumps([audit_payload(r) for r in AuditRecord.objects.all()]).encode(),
        "redis": _redis_dump(redis_conn),
        "work folder": b"\n".join(files),
    }


def _leaks(places: dict[str, bytes], canaries: tuple[str, ...] = CANARIES) -> list[str]:
    return [
        f"{canary} in {where}"
        for where, text in places.items()
        for canary in canaries
        if canary.encode() in text
    ]


def _assert_nothing_leaked(caplog, redis_conn, work_dir) -> None:  # type: ignore[no-untyped-def]
    places = _everything_stored(redis_conn, work_dir)
    places["log records"] = caplog.text.encode()
    assert _leaks(places) == []
    leftovers = list(work_dir.iterdir()) if work_dir.exists() else []
    assert leftovers == []  # no clone, askpass script or key file left behind


def test_a_local_remotes_hooks_never_run_so_they_see_no_token(
    canary_project,
    owner,
    bmad_remote,
    work_dir,
    redis_conn,
    run_worker,
    caplog,
    django_capture_on_commit_callbacks,
    tmp_path,
):
    caught = tmp_path / "hook-saw"
    hook = bmad_remote / "hooks" / "pre-receive"
    # A hostile remote hunting for credentials in what the pushing git hands it. Git runs
    # a local remote's receive-pack itself, so its hooks would inherit the step's
    # environment: bmadweb switches them off and hands a local remote no credentials.
    hook.write_text(f"#!/bin/sh\nenv > '{caught}'\necho 'rejected by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    caplog.set_level(logging.DEBUG)
    run = _provision(canary_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert not caught.exists()  # the hook never ran
    _assert_nothing_leaked(caplog, redis_conn, work_dir)


def test_forge_echoing_the_token_in_its_refusal_leaks_nothing(
    canary_project,
    owner,
    forge,
    work_dir,
    redis_conn,
    run_worker,
    caplog,
    django_capture_on_commit_callbacks,
):
    forge.fail_next(401, body=json.dumps({"message": f"Bad credentials: {FORGE_TOKEN}"}))
    caplog.set_level(logging.DEBUG)
    run = _provision(canary_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert "pull request failed" in run.failure_reason
    _assert_nothing_leaked(caplog, redis_conn, work_dir)


def test_repository_gone_leaks_no_token(
    canary_project,
    owner,
    bmad_remote,
    work_dir,
    redis_conn,
    run_worker,
    caplog,
    django_capture_on_commit_callbacks,
):
    shutil.rmtree(bmad_remote)
    caplog.set_level(logging.DEBUG)
    run = _provision(canary_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    _assert_nothing_leaked(caplog, redis_conn, work_dir)


def test_successful_pull_request_run_leaks_no_token(
    canary_project,
    owner,
    forge,
    work_dir,
    redis_conn,
    run_worker,
    caplog,
    django_capture_on_commit_callbacks,
):
    caplog.set_level(logging.DEBUG)
    run = _provision(canary_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.PUSHED, run.failure_reason
    _assert_nothing_leaked(caplog, redis_conn, work_dir)
    # The fake checked the token it was given: the real one reached the forge.
    assert len(forge.pulls_of("github")) == 1


# --- Pull requests through the forge -------------------------------------------------------


def test_provision_opens_exactly_one_pull_request_for_its_branch(
    canary_project,
    owner,
    forge,
    bmad_remote,
    redis_conn,
    run_worker,
    django_capture_on_commit_callbacks,
):
    run = _provision(canary_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.PUSHED, run.failure_reason
    [pull] = forge.pulls_of("github")
    assert (pull.head, pull.base) == (run.branch, "main")
    assert run.pr_url == f"https://github.example/{pull.repo}/pull/{pull.number}"
    assert "frontend-specialist" in pull.body
    assert run.branch in remote_branches(bmad_remote)
    assert len(forge.requests_of("github", "POST")) == 1


def test_pull_request_retried_after_a_forge_outage_is_opened_once(
    canary_project, owner, forge, redis_conn, run_worker, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    forge.fail_next(502)  # the forge is down during the first attempt
    run = _provision(canary_project, owner, run_worker, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.APPLYING  # pushed; the pull request waits for a retry
    assert "will retry" in "\n".join(run.log_entries.values_list("message", flat=True))
    assert services.runs_reconcile(stale_after=timedelta(0)) == [run.pk]
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.PUSHED, run.failure_reason
    assert len(forge.pulls_of("github")) == 1
    assert run.pr_url


def test_the_search_finds_a_value_planted_in_every_place(
    canary_project, redis_conn, work_dir, caplog
):
    """The control: if the search could not see into a place, every test above would pass.
    (A fresh value: the canaries themselves are scrubbed from logs once a run used them.)"""
    from bmadweb.audit import audit_record

    planted = f"planted-{secrets.token_hex(12)}"
    run = Run.objects.create(
        project=canary_project,
        kind=RunKind.ANALYZE,
        status=RunStatus.FAILED,
        failure_reason=f"failed with {planted}",
    )
    RunLogEntry.objects.create(run=run, message=f"token {planted}")
    audit_record(action="test.plant", payload={"note": planted})
    redis_conn.hset("rq:job:planted", "data", zlib.compress(planted.encode()))
    (work_dir / "clone").mkdir(parents=True)
    (work_dir / "clone" / "config").write_text(f"url = https://x:{planted}@h/r.git\n")
    logging.getLogger("provisioning").error("planted %s", planted)

    places = _everything_stored(redis_conn, work_dir)
    places["log records"] = caplog.text.encode()
    found = _leaks(places, canaries=(planted,))
    assert sorted(found) == sorted(f"{planted} in {where}" for where in places)
