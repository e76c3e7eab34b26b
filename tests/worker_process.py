"""What a test needs to run a real `manage.py rqworker` process beside itself: the test
database as a DATABASE_URL (the worker shares it, and the test Redis)."""

from __future__ import annotations

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
