"""The run log: scrubbed lines stored per run, and the crash-test checkpoints."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from bmadweb.logscrub import scrub
from provisioning.models import LogLevel, Run, RunLogEntry


def run_log(run: Run, message: str, level: str = LogLevel.INFO) -> None:
    """Append one scrubbed line to the run's log."""
    _line(run, message, level).save()


def run_log_held(run: Run, message: str, level: str = LogLevel.INFO) -> RunLogEntry:
    """A scrubbed line not yet stored: for a short step whose lines are written with its
    end, in the same transaction (`run_log_write`), not each in a transaction of its own."""
    return _line(run, message, level)


def run_log_write(lines: Sequence[RunLogEntry]) -> None:
    """Store held lines, in their order, with one INSERT."""
    RunLogEntry.objects.bulk_create(list(lines))


def _line(run: Run, message: str, level: str) -> RunLogEntry:
    return RunLogEntry(run=run, level=level, message=scrub(message)[:4000])


def checkpoint(run: Run, name: str) -> None:
    """A named point in a run where tests may stop the worker (crash tests).

    Does nothing unless BMADWEB_RUN_CHECKPOINT_DIR is set (tests only): then it marks
    the point as reached and, if told to hold there, waits until released.
    """
    folder = getattr(settings, "RUN_CHECKPOINT_DIR", None)
    if not folder:
        return
    base = Path(folder)
    (base / f"{run.pk}.{name}").touch()
    hold = base / f"hold.{name}"
    deadline = time.monotonic() + 60
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
