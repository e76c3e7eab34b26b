"""Shared fixtures: a real Redis, the standard actors and a demo project.

Redis: REDIS_URL when set (CI's second pass), otherwise an embedded redis-server on a
unix socket in a temporary folder, exactly as a new user runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.test import override_settings

from bmadweb.embedded_redis import embedded_redis_start, embedded_redis_stop


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    data_dir = tmp_path_factory.mktemp("redis")
    sock = embedded_redis_start(data_dir)
    try:
        yield f"unix://{sock}?db=0"
    finally:
        embedded_redis_stop(data_dir)


@pytest.fixture(scope="session", autouse=True)
def _redis_settings(redis_url: str, django_db_blocker: object) -> Iterator[None]:
    queues = {"default": {"URL": redis_url, "DEFAULT_TIMEOUT": 300}}
    # Tests create many users: a fast hasher keeps them quick (never used outside tests).
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with override_settings(REDIS_URL=redis_url, RQ_QUEUES=queues, PASSWORD_HASHERS=fast):
        yield


@pytest.fixture(scope="session", autouse=True)
def _local_repos_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Local repositories must lie under BMADWEB_LOCAL_REPOS_ROOT: the tests' own ones
    live under pytest's temporary folder (worker processes read the variable)."""
    root = tmp_path_factory.getbasetemp().resolve()
    os.environ["BMADWEB_LOCAL_REPOS_ROOT"] = str(root)
    with override_settings(LOCAL_REPOS_ROOT=root):
        yield


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()


# --- The standard actors (docs/architecture.md#tests) ---------------------------------


@pytest.fixture
def owner(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user("olivia", password="owner-pass-12345")


@pytest.fixture
def viewer(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user("victor", password="viewer-pass-12345")


@pytest.fixture
def outsider(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user("oscar", password="outsider-pass-12345")


@pytest.fixture
def staff(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser(
        "stella", email="stella@example.test", password="staff-pass-12345"
    )


@pytest.fixture
def local_repo_dir(tmp_path: Path) -> Path:
    """A local directory accepted by the URL policy when local repos are allowed."""
    path = tmp_path / "local-repo"
    path.mkdir()
    return path


@pytest.fixture
def project(db, owner, viewer, local_repo_dir):  # type: ignore[no-untyped-def]
    """A project owned by `owner` and viewable by `viewer`; `outsider` holds no role."""
    from projects import services
    from projects.roles import Role

    proj = services.project_create(
        actor=owner, name="Health AI", slug="healthai", repo_url=str(local_repo_dir)
    )
    services.role_grant(actor=owner, project=proj, role=Role.VIEWER, user=viewer)
    return proj


@pytest.fixture
def bmad_remote(tmp_path: Path) -> Path:
    """A bare git remote whose main branch holds a BMAD 6.12-shaped install."""
    from tests.repos import make_remote

    return make_remote(tmp_path)


@pytest.fixture
def bmad_project(db, owner, bmad_remote):  # type: ignore[no-untyped-def]
    """A project on `bmad_remote` with the demo manifest saved, owned by `owner`."""
    from projects import services
    from tests.repos import DEMO_MANIFEST

    proj = services.project_create(
        actor=owner,
        name="Health AI",
        slug="healthai",
        repo_url=str(bmad_remote),
        forge_kind="other",
        push_mode="branch",
    )
    services.manifest_save(
        actor=owner, project=proj, yaml_text=DEMO_MANIFEST, message="first manifest"
    )
    return proj


@pytest.fixture
def run_worker(redis_conn):  # type: ignore[no-untyped-def]
    """Run every queued job to completion in this process with RQ's SimpleWorker."""
    import django_rq
    from rq import SimpleWorker

    def work() -> None:
        queue = django_rq.get_queue("default")
        SimpleWorker([queue], connection=queue.connection).work(burst=True)

    return work
