"""Shared fixtures: a real Redis, the standard actors, a project factory and the demo
projects.

Redis: REDIS_URL when set (CI's second pass), otherwise an embedded redis-server on a
unix socket in a temporary folder, exactly as a new user runs it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from django.test import override_settings

from bmadweb.embedded_redis import embedded_redis_start, embedded_redis_stop

if TYPE_CHECKING:
    from projects.models import Project


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        # Parallel test processes (pytest-xdist) each get a database of their own, since
        # tests flush theirs.
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        if worker.startswith("gw") and worker[2:].isdigit():
            url = url.rsplit("/", 1)[0] + f"/{int(worker[2:]) + 1}"
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


@pytest.fixture(scope="session", autouse=True)
def _work_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Clones and the analyses' mirrors (docs/git-door.md#mirrors) of the tests go under
    pytest's temporary folder, never the checkout's var/; tests that look at them set
    their own WORK_DIR."""
    with override_settings(WORK_DIR=tmp_path_factory.mktemp("work")):
        yield


@pytest.fixture(autouse=True)
def _settings_not_leaked() -> Iterator[None]:
    """A test leaves the settings as it found them. Overrides undone out of order (two
    stacks of them, torn down in the wrong sequence) once left single sign-on switched on
    for every later test; this names the test that does it."""
    from django.conf import settings

    before = settings._wrapped
    yield
    assert settings._wrapped is before, "this test left Django settings overridden"


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
def make_project(
    request: pytest.FixtureRequest, db: None, tmp_path: Path
) -> Callable[..., Project]:
    """make_project(**overrides) -> Project, made as the UI makes one: through
    projects.services.project_create, so audited and owned by its creator.

    Defaults: a unique slug and name, `owner` as the creator (actor=... for another, or
    actor=None for a project nobody owns), and a fresh empty local folder as the repository
    (repo_url=str(bmad_remote) when the test needs a real bare remote). Other overrides go
    to project_create (forge_kind, push_mode, secrets, ...); manifest=YAML also saves it as
    the first revision.
    """
    from projects import services

    numbers = itertools.count(1)

    def make(*, manifest: str | None = None, **overrides: Any) -> Project:
        number = next(numbers)
        slug = overrides.setdefault("slug", f"project-{number}")
        overrides.setdefault("name", f"Project {number}")
        if "actor" not in overrides:
            overrides["actor"] = request.getfixturevalue("owner")
        if "repo_url" not in overrides:
            repo = tmp_path / "repos" / f"{slug}.git"
            repo.mkdir(parents=True, exist_ok=True)
            overrides["repo_url"] = str(repo)
        project = services.project_create(**overrides)
        if manifest is not None:
            services.manifest_save(
                actor=overrides["actor"],
                project=project,
                yaml_text=manifest,
                message="first manifest",
            )
        return project

    return make


@pytest.fixture
def project(make_project, owner, viewer, local_repo_dir):  # type: ignore[no-untyped-def]
    """A project owned by `owner` and viewable by `viewer`; `outsider` holds no role."""
    from projects import services
    from projects.roles import Role

    proj = make_project(name="Health AI", slug="healthai", repo_url=str(local_repo_dir))
    services.role_grant(actor=owner, project=proj, role=Role.VIEWER, user=viewer)
    return proj


@pytest.fixture
def bmad_remote(tmp_path: Path) -> Path:
    """A bare git remote whose main branch holds a BMAD 6.12-shaped install."""
    from tests.repos import make_remote

    return make_remote(tmp_path)


@pytest.fixture
def bmad_project(make_project, bmad_remote):  # type: ignore[no-untyped-def]
    """A project on `bmad_remote` with the demo manifest saved, owned by `owner`."""
    from tests.repos import DEMO_MANIFEST

    return make_project(
        name="Health AI",
        slug="healthai",
        repo_url=str(bmad_remote),
        forge_kind="other",
        push_mode="branch",
        manifest=DEMO_MANIFEST,
    )


@pytest.fixture
def run_worker(redis_conn):  # type: ignore[no-untyped-def]
    """Run every queued job to completion in this process with RQ's SimpleWorker."""
    import django_rq
    from rq import SimpleWorker

    def work() -> None:
        queue = django_rq.get_queue("default")
        SimpleWorker([queue], connection=queue.connection).work(burst=True)

    return work
