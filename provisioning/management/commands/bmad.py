"""`python manage.py bmad validate|analyze|plan|diff|provision|schema` — the engine from
the command line, on a local checkout (--path) or a registered project (--project).

Exit codes: 0 = in sync / valid, 1 = drift / invalid, 2 = error. --format json prints
one JSON document for CI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from provisioning.cli import common
from provisioning.cli.projects import dispatch


class Command(BaseCommand):
    help = __doc__ or ""
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "mode", choices=["validate", "analyze", "plan", "diff", "provision", "schema"]
        )
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--path", type=Path, help="a local checkout to read (never written)")
        where.add_argument("--project", help="the slug of a registered project")
        parser.add_argument(
            "--manifest", type=Path, help="manifest file (default: the project's latest revision)"
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="with --project: run in this process and wait for the end",
        )
        parser.add_argument(
            "--approve",
            action="store_true",
            help="provision: approve the plan if it needs approval",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            outcome = dispatch(**options)
        except common.CliError as exc:
            outcome = common.Outcome(common.EXIT_ERROR, {"error": str(exc)}, f"error: {exc}")
        if options["format"] == "json":
            self.stdout.write(json.dumps(outcome.data, indent=2, sort_keys=True))
        else:
            self.stdout.write(outcome.text)
        sys.exit(outcome.code)
