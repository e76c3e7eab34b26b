"""An analysis that reuses the last report when nothing it read changed
(docs/decisions.md#d50).

A full analysis on a mirror records what the engine read (`engine.readset`) and leaves a
memo in the mirror's folder: the engine's code fingerprint, the manifest it judged, the
paths it read, their digest at the analysed commit, and the run that holds the report.
The next analysis of the project, once the delta is fetched and the tip listed, computes
the digest of the same paths at the new tip. Equal digest, manifest and code: the
engine would give the same report, so the work tree is not brought to the tip and the
engine does not run; the report is the memo's run's, with the lost hand edits read
afresh from the new history (they depend on commits, not on the files read).

The memo is a cache: a missing, unreadable or foreign one means a full analysis. It
lives and dies with the mirror (a mirror cloned afresh starts without one).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning import git_ops
from provisioning.engine.history import CODE as LOST_EDIT
from provisioning.engine.readset import ReadSet, engine_fingerprint, reads_digest
from provisioning.models import Run, RunKind, RunStatus
from provisioning.runs.repo_access import git_policy

MEMO = "analysis.json"
MAX_MEMO_BYTES = 32 * 1024 * 1024
_VERSION = 1


@dataclass(frozen=True, slots=True)
class Memo:
    engine: str
    judged: str  # the manifest's effective sha, or "audit"
    digest: str
    reads: list[list[str]]
    run_id: int


def judged(manifest_sha: str | None) -> str:
    """What an analysis judged the repository against: a manifest's sha, or an audit."""
    return manifest_sha or "audit"


@dataclass(frozen=True, slots=True)
class Reusable:
    report: dict[str, Any]
    memo: Memo


def reusable_report(folder: Path, run: Run, tip: git_ops.ClonedRepo, what: str) -> Reusable | None:
    """The memo's report when `tip` shows the engine what the memo's analysis saw, with
    the same manifest and engine code; otherwise None."""
    memo = read_memo(folder)
    if memo is None or memo.engine != engine_fingerprint() or memo.judged != what:
        return None
    if tip.tree is None or reads_digest(memo.reads, tip.tree) != memo.digest:
        return None
    report = (
        Run.objects.filter(
            pk=memo.run_id,
            project_id=run.project_id,
            kind=RunKind.ANALYZE,
            status=RunStatus.SUCCEEDED,
        )
        .values_list("report", flat=True)
        .first()
    )
    if not isinstance(report, dict) or not isinstance(report.get("findings"), list):
        return None
    # Lost hand edits come from the history, which moved: they are read again.
    findings = [f for f in report["findings"] if not _lost_edit(f)]
    return Reusable({**report, "findings": findings}, memo)


def _lost_edit(finding: Any) -> bool:
    return isinstance(finding, dict) and finding.get("code") == LOST_EDIT


def remember(folder: Path, run: Run, tip: git_ops.ClonedRepo, what: str, reads: ReadSet) -> None:
    """Leave the memo of a full analysis of `tip` (none when its reads cannot be judged
    from a tree listing)."""
    if not reads.reusable or tip.tree is None:
        forget(folder)
        return
    listed = reads.as_list()
    write_memo(
        folder,
        Memo(engine_fingerprint(), what, reads_digest(listed, tip.tree), listed, run.pk),
    )


def remember_reuse(folder: Path, memo: Memo, run: Run) -> None:
    """After a reuse the new run holds the same report: point the memo at it (the older
    run may be deleted before the next analysis)."""
    write_memo(folder, Memo(memo.engine, memo.judged, memo.digest, memo.reads, run.pk))


def read_memo(folder: Path) -> Memo | None:
    try:
        data = json.loads(git_ops.read_private_file(folder / MEMO, limit=MAX_MEMO_BYTES) or b"")
        reads = data["reads"]
        ok = (
            data.get("v") == _VERSION
            and isinstance(reads, list)
            and all(
                isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)
                for r in reads
            )
        )
        memo = Memo(str(data["engine"]), str(data["judged"]), str(data["digest"]), reads,
                    int(data["run"]))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return memo if ok else None


def write_memo(folder: Path, memo: Memo) -> None:
    data = json.dumps(
        {
            "v": _VERSION,
            "engine": memo.engine,
            "judged": memo.judged,
            "digest": memo.digest,
            "reads": memo.reads,
            "run": memo.run_id,
        },
        separators=(",", ":"),
    ).encode()
    if len(data) > MAX_MEMO_BYTES:
        forget(folder)
        return
    git_ops.write_private_file(folder, MEMO, data)


def forget(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        (folder / MEMO).unlink()


def blob_reader(tip: git_ops.ClonedRepo) -> Callable[[str], str | None]:
    """A file's text at `tip`, from the objects (the work tree may hold an older commit)."""

    def read(path: str) -> str | None:
        entry = (tip.tree or {}).get(path)
        if entry is None or entry[0] not in ("100644", "100755"):
            return None
        data = git_ops.read_blobs(tip, [entry[1]], policy=git_policy()).get(entry[1])
        if data is None or b"\x00" in data:
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None

    return read
