"""The lock file `_bmad/custom/bmadweb.lock.json`: what bmadweb wrote, kept in the repo.

Per file it records the sha256 of the text written and the exact base text (the
generator's output) used for later 3-way merges, plus the manifest revision and the
generator version. JSON is written with sorted keys so the same state gives the same
bytes. Parsing is defensive: a damaged lock is treated as absent and a problem is
reported, never raised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.engine.paths import LOCK_PATH, relpath_problem

LOCK_FORMAT = 1
MAX_LOCK_BYTES = 64 * 1024 * 1024


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class LockEntry:
    sha256: str  # of the text bmadweb wrote to the file
    base: str  # generator output at that time: the base of the next 3-way merge


@dataclass(frozen=True, slots=True)
class Lock:
    generator_version: str = ""
    manifest_revision: str = ""
    files: Mapping[str, LockEntry] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LockRead:
    lock: Lock
    problems: tuple[str, ...] = ()


def dumps_lock(lock: Lock) -> str:
    """Stable JSON text of a lock (sorted keys, trailing newline)."""
    data = {
        "format": LOCK_FORMAT,
        "generator_version": lock.generator_version,
        "manifest_revision": lock.manifest_revision,
        "files": {
            path: {"sha256": entry.sha256, "base": entry.base}
            for path, entry in sorted(lock.files.items())
        },
    }
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def _entry(path: Any, raw: Any) -> tuple[LockEntry | None, str | None]:
    if not isinstance(path, str) or relpath_problem(path) or path == LOCK_PATH:
        return None, f"lock file names an unsafe path {path!r}; entry ignored"
    if not isinstance(raw, dict):
        return None, f"lock entry for {path} is not an object; entry ignored"
    sha, base = raw.get("sha256"), raw.get("base")
    if not isinstance(sha, str) or not isinstance(base, str) or len(sha) != 64:
        return None, f"lock entry for {path} lacks a valid sha256 or base; entry ignored"
    return LockEntry(sha256=sha.lower(), base=base), None


def parse_lock(text: str | None) -> LockRead:
    """A Lock from text; None or damaged text gives an empty lock and problems."""
    if text is None:
        return LockRead(Lock())
    if len(text) > MAX_LOCK_BYTES:
        return LockRead(Lock(), ("lock file is too large; treated as absent",))
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return LockRead(Lock(), (f"lock file is not valid JSON ({exc}); treated as absent",))
    if not isinstance(data, dict) or not isinstance(data.get("files", {}), dict):
        return LockRead(Lock(), ("lock file has an unexpected shape; treated as absent",))
    problems: list[str] = []
    files: dict[str, LockEntry] = {}
    for path, raw in data.get("files", {}).items():
        entry, problem = _entry(path, raw)
        if entry is not None:
            files[path] = entry
        if problem:
            problems.append(problem)
    version, revision = data.get("generator_version"), data.get("manifest_revision")
    return LockRead(
        Lock(
            generator_version=version if isinstance(version, str) else "",
            manifest_revision=revision if isinstance(revision, str) else "",
            files=files,
        ),
        tuple(problems),
    )
