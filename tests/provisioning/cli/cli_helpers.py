"""Run `manage.py bmad` in this process: (exit code, output)."""

from __future__ import annotations

import io

from django.core.management import call_command


def bmad(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("bmad", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()
