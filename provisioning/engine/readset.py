"""What an analysis read, so that an unchanged input can reuse its report
(docs/decisions.md#d50, docs/performance.md#fleet).

Every read of a repository goes through two doors, `detect_read` and `gap._Reader`. While
`recording()` is active they note each path they look at (`path`: the entry there and on
the way to it) and each folder they list (`list`: the names in it and which are folders).
`reads_digest` turns such a record and a commit's tree listing (path -> mode, object id,
as `git ls-tree -r` gives it) into one digest: two commits with the same digest show the
engine the same bytes at every path it looked at, the same entries in every folder it
listed and the same `.gitattributes` files (which decide how a checkout converts what it
writes). The engine's answer is a function of what it read, the manifest and its own
code (`engine_fingerprint`), so equal digests, manifests and code mean an equal report.

A record that looked where a tree listing cannot tell (`.git`, a path that is not plain
repository-relative) is marked not reusable.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PATH = "path"
LIST = "list"
_TREE_MODE = "040000"
_GITLINK_MODE = "160000"


@dataclass(slots=True)
class ReadSet:
    reads: set[tuple[str, str]] = field(default_factory=set)
    reusable: bool = True

    def note(self, kind: str, rel: str) -> None:
        rel = "" if rel in ("", ".", "/", "./") else rel.rstrip("/")  # "" is the top
        parts = rel.split("/") if rel else []
        if any(part in ("", ".", "..", ".git") for part in parts) or rel.startswith("/"):
            self.reusable = False
        self.reads.add((kind, rel))

    def as_list(self) -> list[list[str]]:
        return [list(read) for read in sorted(self.reads)]


_current: contextvars.ContextVar[ReadSet | None] = contextvars.ContextVar(
    "bmadweb_readset", default=None
)


@contextlib.contextmanager
def recording() -> Iterator[ReadSet]:
    """Note every path the engine reads in this block (nested blocks share the outer one)."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    reads = ReadSet()
    token = _current.set(reads)
    try:
        yield reads
    finally:
        _current.reset(token)


def note(kind: str, rel: str) -> None:
    """Called by the reading doors; nothing happens outside `recording()`."""
    reads = _current.get()
    if reads is not None:
        reads.note(kind, rel)


TreeListing = Mapping[str, tuple[str, str]]


class _Tree:
    """A tree listing's folders, the entries of the folders asked for, and its
    `.gitattributes` files: one pass over the listing per digest."""

    def __init__(self, listing: TreeListing, lists: Iterable[str]) -> None:
        self.listing = listing
        self.folders: set[str] = set()  # every folder that holds something
        self.children: dict[str, dict[str, str]] = {folder: {} for folder in lists}
        self.attributes: list[str] = []
        children, folders = self.children, self.folders
        for path, (mode, _) in listing.items():
            parent, _, name = path.rpartition("/")
            if name == ".gitattributes":
                self.attributes.append(path)
            if (entries := children.get(parent)) is not None:
                entries[name] = mode
            while parent and parent not in folders:  # the folders on the way, each once
                folders.add(parent)
                up, _, folder = parent.rpartition("/")
                if (entries := children.get(up)) is not None:
                    entries[folder] = _TREE_MODE
                parent = up

    def entry(self, path: str) -> str:
        if path in self.listing:
            mode, oid = self.listing[path]
            return f"{mode} {oid}"
        return _TREE_MODE if path in self.folders else "-"

    def listed(self, folder: str) -> str:
        if folder in self.listing:  # a file, a link or a submodule: no entries to list
            return f"not a folder {self.entry(folder)}"
        if folder and folder not in self.folders:
            return "-"
        kinds = (
            f"{name}:{'d' if mode in (_TREE_MODE, _GITLINK_MODE) else mode}"
            for name, mode in sorted(self.children[folder].items())
        )
        return ";".join(kinds)


def reads_digest(reads: Iterable[Iterable[str]], listing: TreeListing) -> str:
    """The digest of what `reads` would see in the commit `listing` lists (see above)."""
    wanted = sorted({(str(k), str(r)) for k, r in reads})
    tree = _Tree(listing, {rel for kind, rel in wanted if kind == LIST})
    digest = hashlib.sha256(b"bmadweb-reads-v1\0")
    for kind, rel in wanted:
        if kind == LIST:
            seen = tree.listed(rel)
        else:
            parts = rel.split("/") if rel else []
            seen = "|".join(tree.entry("/".join(parts[:end])) for end in range(1, len(parts) + 1))
        digest.update(f"{kind}\0{rel}\0{seen}\n".encode())
    for path in sorted(tree.attributes):
        digest.update(f"attributes\0{path}\0{tree.entry(path)}\n".encode())
    return digest.hexdigest()


def _source_digest() -> str:
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256(b"bmadweb-engine\0")
    for path in sorted(root.rglob("*")):
        if "__pycache__" not in path.parts and path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


# Taken when the engine is imported (about 4 ms), not at the first analysis: a worker
# that keeps running old code after a deploy replaced the files must not label its
# reports with the new code's digest.
_ENGINE_FINGERPRINT = _source_digest()


def engine_fingerprint() -> str:
    """A digest of the engine's own source (code and templates) as this process loaded
    it: a report is reused only by the code that made it."""
    return _ENGINE_FINGERPRINT
