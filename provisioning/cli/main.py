"""`bmadweb`: the engine on a checkout, for a team's CI and pre-commit hooks.

    bmadweb validate --manifest bmadweb.yaml
    bmadweb analyze  [--path DIR] [--manifest bmadweb.yaml]
    bmadweb plan|diff|apply --path DIR --manifest bmadweb.yaml
    bmadweb upgrade  --path DIR --to 6.12.0 [--manifest bmadweb.yaml]
    bmadweb schema

No database, no settings and no git: this module imports nothing of Django (an import
contract holds it); only `upgrade` uses the network, to run BMAD's official installer.
It shares its code with `manage.py bmad --path`, so both print the same JSON. Exit codes:
0 in sync / valid, 1 drift / invalid / unresolved conflicts, 2 error (bad path,
unreadable manifest, bad usage, an installer that failed). See docs/ci.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from provisioning.cli.common import EXIT_ERROR, CliError, Outcome, error_outcome, rendered
from provisioning.cli.paths import PATH_MODES, path_dispatch
from provisioning.cli.upgrade import upgrade_outcome
from provisioning.engine.generator import GENERATOR_VERSION

_MODES_HELP = """\
modes:
  validate  check a manifest file (every error with its line and column)
  analyze   compare the checkout with the manifest; without --manifest, audit the
            BMAD install alone
  plan      list the file operations that would bring the checkout in sync
  diff      the same operations as one patch
  apply     write the plan into the working tree and update the lock file
            (never commits: review with git diff, then commit)
  upgrade   run BMAD's official installer for --to VERSION in the working tree (needs
            node 20+), then write what bmadweb adds: 6.0-style customizations migrated,
            hand edits saved and offered again, the manifest's files (never commits)
  schema    print the manifest's JSON Schema

exit codes: 0 in sync / valid, 1 drift / invalid / unresolved conflicts, 2 error
"""


def _version() -> str:
    try:
        package = version("bmadweb")
    except PackageNotFoundError:
        package = "(not installed)"
    return f"bmadweb {package} (generator {GENERATOR_VERSION})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bmadweb",
        description="Keep a repository's BMAD Method set-up in line with its bmadweb manifest.",
        epilog=_MODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    modes = (*PATH_MODES, "upgrade")
    parser.add_argument("mode", choices=modes, metavar="mode", help=", ".join(modes))
    parser.add_argument(
        "--path",
        type=Path,
        default=Path(),
        help="the checkout to work on (default: the current directory)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        help="the manifest file (analyze without it audits the install alone)",
    )
    parser.add_argument(
        "--base-dir",
        type=Path,
        help="the folder holding the base manifests `extends` names, as <name>.yaml "
        "(default: the manifest's folder)",
    )
    parser.add_argument("--to", metavar="VERSION", help="upgrade: the exact BMAD version")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="upgrade: time limit of each installer run (default 600)",
    )
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--version", action="version", version=_version())
    return parser


def run(args: argparse.Namespace) -> Outcome:
    try:
        if args.mode == "upgrade":
            return upgrade_outcome(
                path=args.path, target=args.to, manifest=args.manifest, timeout_s=args.timeout
            )
        return path_dispatch(
            mode=args.mode, path=args.path, manifest=args.manifest, base_dir=args.base_dir
        )
    except CliError as exc:
        return error_outcome(exc)
    except Exception as exc:  # exit 2, never 1: a crash must not read as drift in CI
        return error_outcome(CliError(f"unexpected {type(exc).__name__}: {exc}"))


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: print the outcome and return its exit code (usage errors: 2)."""
    args = build_parser().parse_args(argv)
    outcome = run(args)
    text = rendered(outcome, args.format)
    stream = sys.stderr if outcome.code == EXIT_ERROR and args.format == "text" else sys.stdout
    print(text, file=stream)
    return outcome.code


if __name__ == "__main__":
    sys.exit(main())
