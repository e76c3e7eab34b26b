"""What an analysis read, and the digest that decides whether its report can be reused
(docs/decisions.md#d50). The digest must change whenever the report could: every file of
a real install is edited, deleted and given a new neighbour in turn, and wherever the
digest stayed the same, a fresh analysis gave the same report."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.demo.bmad_installs import DEMO_MANIFEST
from provisioning.engine import detect_read as rd
from provisioning.engine.manifest import load_manifest
from provisioning.engine.pipeline import analyze_repo, report_to_dict
from provisioning.engine.readset import (
    LIST,
    PATH,
    ReadSet,
    engine_fingerprint,
    reads_digest,
    recording,
)
from tests.provisioning.engine.builders import build_v64
from tests.repos import git

BLOB = "100644"


def listing_of(repo: Path) -> dict[str, tuple[str, str]]:
    out = git("ls-tree", "-r", "-z", "HEAD", cwd=repo)
    tree = {}
    for entry in filter(None, out.split("\0")):
        meta, _, path = entry.partition("\t")
        mode, _, oid = meta.split()
        tree[path] = (mode, oid)
    return tree


def commit_all(repo: Path) -> dict[str, tuple[str, str]]:
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--allow-empty", "--message", "change", cwd=repo)
    return listing_of(repo)


def test_the_digest_sees_what_was_read_and_nothing_else() -> None:
    tree = {
        "_bmad/config.toml": (BLOB, "a" * 40),
        "_bmad/core/x.md": (BLOB, "b" * 40),
        "docs/notes.md": (BLOB, "c" * 40),
        "README.md": (BLOB, "d" * 40),
    }
    reads = [[PATH, "_bmad/config.toml"], [LIST, "_bmad"], [LIST, ""]]
    before = reads_digest(reads, tree)
    unrelated = {**tree, "docs/notes.md": (BLOB, "e" * 40), "docs/new.md": (BLOB, "f" * 40)}
    assert reads_digest(reads, unrelated) == before
    assert reads_digest(reads, {**tree, "README.md": (BLOB, "9" * 40)}) == before  # listed only
    changed = [
        {**tree, "_bmad/config.toml": (BLOB, "0" * 40)},  # content read
        {**tree, "_bmad/config.toml": ("100755", "a" * 40)},  # its mode
        {**tree, "_bmad/new.md": (BLOB, "0" * 40)},  # a new entry in a listed folder
        {k: v for k, v in tree.items() if k != "_bmad/core/x.md"},  # a listed folder gone
        {**tree, "CHANGELOG.md": (BLOB, "0" * 40)},  # a new entry at the top
        {**tree, "docs/.gitattributes": (BLOB, "0" * 40)},  # conversions may change
    ]
    for other in changed:
        assert reads_digest(reads, other) != before, other.keys() - tree.keys()
    # A file where a folder was read on the way (the path is not reachable any more).
    flattened = {k: v for k, v in tree.items() if not k.startswith("_bmad/")}
    flattened["_bmad"] = (BLOB, "0" * 40)
    assert reads_digest(reads, flattened) != before


@pytest.mark.parametrize("rel", [".git/config", "a/../b", "/etc/passwd", "x/./y", ".git"])
def test_reads_a_tree_listing_cannot_vouch_for_are_not_reusable(rel: str) -> None:
    reads = ReadSet()
    reads.note(PATH, "_bmad/config.toml")
    assert reads.reusable
    reads.note(PATH, rel)
    assert not reads.reusable


def test_a_recording_holds_what_its_block_read_and_nothing_after(tmp_path: Path) -> None:
    build_v64(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("ours\n")
    manifest = load_manifest(DEMO_MANIFEST).manifest
    with recording() as reads:
        analyze_repo(tmp_path, manifest)
    kept = set(reads.reads)
    analyze_repo(tmp_path, manifest)  # outside the block: nothing is added to it
    rd.read_capped(tmp_path, "docs/a.md")
    assert reads.reads == kept
    assert (PATH, "docs/a.md") not in kept
    assert (LIST, "") in reads.reads
    assert (PATH, "_bmad/_config/manifest.yaml") in reads.reads
    assert reads.reusable
    assert len(engine_fingerprint()) == 64


def test_where_the_digest_stays_the_same_the_report_does_too(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    build_v64(repo)
    (repo / "docs").mkdir()
    (repo / "docs" / "README.md").write_text("# Our docs\n")
    git("init", "--quiet", "--initial-branch", "main", cwd=repo)
    start = commit_all(repo)
    manifest = load_manifest(DEMO_MANIFEST).manifest
    with recording() as recorded:
        expected = report_to_dict(analyze_repo(repo, manifest).report)
    reads = recorded.as_list()
    digest = reads_digest(reads, start)

    folders = sorted({str(Path(p).parent) for p in start} | {"."})
    mutations: list[tuple[str, str | None]] = []
    for index, path in enumerate(sorted(start)):
        mutations.append((path, "edited by the team\n"))
        if index % 3 == 0:
            mutations.append((path, None))
    mutations += [(f"{folder}/zz-new.md", "a new file\n") for folder in folders]

    same = differ = 0
    for path, content in mutations:
        target = repo / path
        if content is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        tree = commit_all(repo)
        if reads_digest(reads, tree) == digest:
            same += 1
            report = report_to_dict(analyze_repo(repo, manifest).report)
            assert report == expected, f"the report changed with {path} but the digest did not"
        else:
            differ += 1
        git("reset", "--quiet", "--hard", "HEAD~1", cwd=repo)
        git("clean", "--quiet", "-ffdx", cwd=repo)
    # Both kinds happened: the check above judged real cases, and the digest is not
    # simply a digest of the whole tree.
    assert same >= 5
    assert differ >= 5
