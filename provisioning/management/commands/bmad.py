"""`python manage.py bmad validate|analyze|plan|diff|apply|provision|upgrade|schema` — the
engine from the command line, on a local checkout (--path) or a registered project
(--project). `upgrade --to VERSION` runs BMAD's official installer: on a project as an
upgrade run (a branch and pull request), on a checkout in its working tree.

On a checkout it is the same code as the `bmadweb` command (no database needed):
`analyze` without --manifest audits the BMAD install alone, and `apply` writes the plan
into the working tree (never a commit). Exit codes: 0 = in sync / valid, 1 = drift /
invalid / unresolved conflicts, 2 = error. --format json prints one JSON document for CI.
"""

from __future__ import annotations

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
            "mode",
            choices=[
                "validate",
                "analyze",
                "plan",
                "diff",
                "apply",
                "provision",
                "upgrade",
                "schema",
            ],
        )
        where = parser.add_mutually_exclusive_group()
        where.add_argument(
            "--path",
            type=Path,
            help="a local checkout (read; apply writes into its working tree, never commits)",
        )
        where.add_argument("--project", help="the slug of a registered project")
        parser.add_argument(
            "--manifest",
            type=Path,
            help="manifest file (default: the project's latest revision; "
            "analyze --path without it audits the install alone)",
        )
        parser.add_argument(
            "--base-dir",
            type=Path,
            help="with --manifest: the folder of the base manifests `extends` names "
            "(<name>.yaml; default: the manifest's folder); otherwise the stored bases",
        )
        parser.add_argument(
            "--to", dest="target", metavar="VERSION", help="upgrade: the exact BMAD version"
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
            help="provision, upgrade: approve the plan if it needs approval",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            outcome = dispatch(**options)
        except common.CliError as exc:
            outcome = common.error_outcome(exc)
        self.stdout.write(common.rendered(outcome, options["format"]))
        sys.exit(outcome.code)
