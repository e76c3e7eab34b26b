"""Careful reading of a repository that may be damaged or hostile, for BMAD detection.

Every function here returns a value or a plain-words problem; none raises on bad input.
Paths are repo-relative POSIX strings. Symbolic links are never followed: a link anywhere
along a path makes that path unreadable (a repo must not make bmadweb read /etc/passwd).
Reads are capped, special files (FIFOs, devices) are refused without blocking.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from provisioning.engine.readset import LIST, PATH, note

MAX_READ_BYTES = 5 * 1024 * 1024
MAX_YAML_BYTES = 2 * 1024 * 1024
MAX_DIR_ENTRIES = 20_000
MAX_CSV_ROWS = 200_000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA256_PREFIX = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class ReadResult:
    """File bytes, or why they could not be read; `missing` when there is no such file."""

    data: bytes | None
    problem: str | None = None
    missing: bool = False
    symlink: str | None = None  # the repo-relative path of the link met, if any


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (OSError, ValueError):
        return None


def symlinked_part(root: Path, rel: str) -> str | None:
    """The first component of `rel` (as a repo path) that is a symbolic link, if any."""
    # Plain strings, not a Path per component: this runs for every file an analysis
    # reads (docs/performance.md#fleet). An absolute `rel` stays under `root` here.
    note(PATH, rel)
    base = os.fspath(root)
    sub = ""
    for part in rel.split("/"):
        sub = f"{sub}/{part}" if sub else part
        try:
            st = os.lstat(f"{base}/{sub}")
        except (OSError, ValueError):
            return None
        if stat.S_ISLNK(st.st_mode):
            return sub
    return None


def is_dir(root: Path, rel: str) -> bool:
    """A real directory (no symbolic link on the way)."""
    note(PATH, rel)
    st = _lstat(root / rel)
    return bool(st and stat.S_ISDIR(st.st_mode)) and symlinked_part(root, rel) is None


def is_file(root: Path, rel: str) -> bool:
    """A regular file (no symbolic link on the way)."""
    note(PATH, rel)
    st = _lstat(root / rel)
    return bool(st and stat.S_ISREG(st.st_mode)) and symlinked_part(root, rel) is None


def exists(root: Path, rel: str) -> bool:
    """Anything at `rel`, links included (not followed)."""
    note(PATH, rel)
    return _lstat(root / rel) is not None


def list_dir(root: Path, rel: str) -> list[tuple[str, bool]]:
    """(name, is_real_directory) of the entries in `rel`, sorted; [] if not a real dir."""
    note(LIST, rel)
    if not is_dir(root, rel):
        return []
    out: list[tuple[str, bool]] = []
    try:
        with os.scandir(root / rel) as it:
            for entry in it:
                out.append((entry.name, entry.is_dir(follow_symlinks=False)))
                if len(out) >= MAX_DIR_ENTRIES:
                    break
    except OSError:
        return []
    return sorted(out)


def _open_regular(root: Path, rel: str) -> tuple[int | None, ReadResult | None]:
    link = symlinked_part(root, rel)
    if link is not None:
        return None, ReadResult(
            None, f"{link} is a symbolic link, which bmadweb does not follow", symlink=link
        )
    try:
        fd = os.open(root / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None, ReadResult(None, missing=True)
    except (OSError, ValueError) as exc:
        return None, ReadResult(None, f"cannot be opened ({exc.__class__.__name__})")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None, ReadResult(None, "is not a regular file")
    return fd, None


def read_capped(root: Path, rel: str, cap: int = MAX_READ_BYTES) -> ReadResult:
    """Read at most `cap` bytes of a regular file; larger files are a problem."""
    fd, failed = _open_regular(root, rel)
    if fd is None:
        return failed or ReadResult(None, "cannot be read")
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        return ReadResult(None, f"cannot be read ({exc.__class__.__name__})")
    if len(data) > cap:
        return ReadResult(None, f"is larger than {cap // (1024 * 1024)} MiB")
    return ReadResult(data)


def sha256_of(root: Path, rel: str) -> str | None:
    """Full sha256 hex of a regular file, None if missing, a link, or unreadable."""
    fd, _ = _open_regular(root, rel)
    if fd is None:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


def decode_text(data: bytes) -> str | None:
    """UTF-8 text without NUL bytes, or None for binary content."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


# ---------------------------------------------------------------- YAML


class _NoAliasLoader(yaml.SafeLoader):
    """Safe loader that refuses anchors/aliases: alias bombs explode only on traversal."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases are not accepted")
        return super().compose_node(parent, index)


def load_yaml_mapping(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a small YAML document that must be a mapping: (mapping, None) or (None, why)."""
    if len(data) > MAX_YAML_BYTES:
        return None, f"is larger than {MAX_YAML_BYTES // (1024 * 1024)} MiB"
    text = decode_text(data)
    if text is None:
        return None, "is not UTF-8 text"
    try:
        doc = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        return None, f"is not valid YAML ({_short(exc)})"
    if not isinstance(doc, dict):
        return None, "is not a YAML mapping"
    return doc, None


def yaml_carries_values(data: bytes) -> bool:
    """True when a YAML mapping holds at least one non-empty value. BMAD 6.0 - 6.2 install
    a `*.customize.yaml` template per agent in which every value is empty."""
    doc, _ = load_yaml_mapping(data)
    try:
        return doc is not None and _non_empty(doc, budget=[2000])
    except RecursionError:
        return False


def _non_empty(value: object, budget: list[int]) -> bool:
    budget[0] -= 1
    if budget[0] < 0:
        return False
    if isinstance(value, dict):
        return any(_non_empty(v, budget) for v in value.values())
    if isinstance(value, list):
        return any(_non_empty(v, budget) for v in value) if value else False
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and value is not False


def _short(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return (first[0] if first else exc.__class__.__name__)[:120]


def normalize_version(raw: object) -> str | None:
    """'6.0.0-Beta.5' -> '6.0.0-beta.5'; None if it is not a PEP 440 version."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    text = str(raw).strip().lower().removeprefix("v")
    return text if parse_version(text) is not None else None


def parse_version(text: str | None) -> Version | None:
    """A packaging Version, or None; never raises."""
    if not text or len(text) > 64:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


# ---------------------------------------------------------------- CSV


def is_safe_relpath(rel: str) -> bool:
    """Relative POSIX path without `..`, empty segments, backslashes or control chars."""
    if not rel or len(rel) > 1024 or rel.startswith("/") or "\\" in rel:
        return False
    if any(ord(ch) < 32 for ch in rel):
        return False
    return all(seg not in ("", ".", "..") for seg in rel.split("/"))


@dataclass(frozen=True, slots=True)
class CsvTable:
    """Rows of a CSV as dicts keyed by lower-cased header; `bad_rows` counts unreadable ones."""

    rows: tuple[dict[str, str], ...]
    bad_rows: int = 0
    problem: str | None = None


def read_csv_table(data: bytes, defaults: tuple[str, ...]) -> CsvTable:
    """Parse a CSV leniently. Without a recognisable header, `defaults` name the columns."""
    text = decode_text(data)
    if text is None:
        return CsvTable((), problem="is not UTF-8 text")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    bad = 0
    for _ in range(MAX_CSV_ROWS):
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            bad += 1
            continue
        if header is None:
            header, was_header = _header_of(cells, defaults)
            if was_header:
                continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            bad += 1
            continue
        rows.append(dict(zip(header, cells, strict=False)))
    return CsvTable(tuple(rows), bad)


def _header_of(cells: list[str], defaults: tuple[str, ...]) -> tuple[list[str], bool]:
    """The column names, and whether `cells` was a header (else it is a data row)."""
    names = [c.strip().lower() for c in cells]
    if set(defaults[-2:]) <= set(names):
        return names, True
    return list(defaults), False


def is_sha256(value: str, *, prefix_ok: bool = False) -> bool:
    """A full lower-case sha256 hex (or the 16-hex prefix v4 uses, when allowed)."""
    value = value.strip().lower()
    return bool(_SHA256.match(value) or (prefix_ok and _SHA256_PREFIX.match(value)))
