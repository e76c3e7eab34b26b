"""What a test needs to run a real `manage.py rqworker` process beside itself: the test
database as a DATABASE_URL and an environment that points the worker at it, the test
Redis and a work folder of the test's own."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from django.db import connection


def database_url() -> str:
    """The test database as a DATABASE_URL (Django has swapped NAME for the test name)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        assert not name.startswith(("file:", ":memory:")), "a worker process needs a file database"
        return f"sqlite:///{name}"
    user, password = quote(db["USER"] or "", safe=""), quote(db["PASSWORD"] or "", safe="")
    auth = f"{user}:{password}@" if user else ""
    return f"postgres://{auth}{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(redis_url: str, work_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker process that shares the test's database and Redis."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "BMADWEB_WORK_DIR": str(work_dir),
        "BMADWEB_ALLOW_LOCAL_REPOS": "1",
        **extra,
    }
